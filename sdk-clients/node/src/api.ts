/**
 * The API as one caller (the server, or a user) sees it: users, call types,
 * events, devices, and calls.
 * @module
 */
import { Call } from "./call.js";
import type { RouteName } from "./routes.js";
import type { RequestOptions, Transport } from "./transport.js";
import type {
  CallType,
  DeviceRequest,
  DevicesResponse,
  Done,
  EventsPage,
  JsonObject,
  ListEventsOptions,
  UpdateCallTypeRequest,
  User,
  UserRequest,
} from "./types.js";

/**
 * The routes outside a call, and {@link OnAirApi.call}. Methods marked
 * "user token" are refused with a server token: use {@link OnAirServer.asUser}.
 */
export class OnAirApi {
  /** How requests reach the server. */
  protected readonly transport: Transport;

  /** An API reached through `transport`. */
  constructor(transport: Transport) {
    this.transport = transport;
  }

  /** Low level: calls route `name` of {@link ROUTES} with `options`. */
  request<T = unknown>(name: RouteName, options: RequestOptions = {}): Promise<T> {
    return this.transport.request<T>(name, options);
  }

  /** The call `type:id` (nothing is sent until a method is called). */
  call(type: string, id: string): Call {
    return new Call(this.transport, type, id);
  }

  /** Creates or replaces up to 100 users (server token); answers the stored users by id. */
  upsertUsers(users: UserRequest[]): Promise<{ users: Record<string, User> }> {
    return this.transport.request("upsertUsers", { body: { users } });
  }

  /** Lists the call types. */
  listCallTypes(): Promise<{ call_types: CallType[] }> {
    return this.transport.request("listCallTypes");
  }

  /** Reads one call type. */
  getCallType(name: string): Promise<CallType> {
    return this.transport.request("getCallType", { params: { name } });
  }

  /** Creates or changes a call type (server token). */
  updateCallType(name: string, body: UpdateCallTypeRequest): Promise<CallType> {
    return this.transport.request("updateCallType", { params: { name }, body });
  }

  /**
   * One page of the event log, oldest first: every event for a server token
   * (or one call's with `callCid`). Pass the page's `next` as `after` to read on.
   */
  listEvents(options: ListEventsOptions = {}): Promise<EventsPage> {
    const query = { after: options.after, call_cid: options.callCid, limit: options.limit };
    return this.transport.request("listEvents", { query });
  }

  /** Registers one of the user's phones for pushes (user token). */
  addDevice(body: DeviceRequest): Promise<Done> {
    return this.transport.request("addDevice", { body });
  }

  /** Lists the user's phones (user token). */
  listDevices(): Promise<DevicesResponse> {
    return this.transport.request("listDevices");
  }

  /** Forgets one of the user's phones by its token (user token). */
  deleteDevice(id: string): Promise<Done> {
    return this.transport.request("deleteDevice", { query: { id } });
  }

  /** The webhook endpoints: from OnAir's config and those set here (server token). */
  listWebhooks(): Promise<JsonObject> {
    return this.transport.request("listWebhooks");
  }

  /**
   * Replaces the endpoints set over the API (server token): each `{url,
   * events?}`, `events` filtering by type with `*` wildcards (`call.*`).
   */
  setWebhooks(webhooks: Array<{ url: string; events?: string[] }>): Promise<JsonObject> {
    return this.transport.request("setWebhooks", { body: { webhooks } });
  }

  /** Deliveries given up on (parked), a page at a time (server token). */
  listFailedWebhooks(options: { after?: string; limit?: number } = {}): Promise<JsonObject> {
    return this.transport.request("listFailedWebhooks", { query: { after: options.after, limit: options.limit } });
  }

  /** Puts parked deliveries back in their queues: these events, or all (server token). */
  redeliverWebhooks(eventIds?: string[]): Promise<JsonObject> {
    const body = eventIds === undefined ? {} : { event_ids: eventIds };
    return this.transport.request("redeliverWebhooks", { body });
  }
}
