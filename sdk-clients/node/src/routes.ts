/**
 * The REST routes this SDK calls: one table, the only place paths live.
 * Every method of the SDK goes through it by name, so the OpenAPI coverage
 * test can compare it with the server's `/openapi.json`.
 * @module
 */

/** An HTTP method the API uses. */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * Which token a route takes: `server` (a server token only), `user` (a user
 * token only: call it through {@link OnAirServer.asUser}), or `any`.
 */
export type RouteAuth = "server" | "user" | "any";

/** One REST route: its method, its path template (as in the OpenAPI spec) and the token it needs. */
export interface Route {
  /** The SDK's name for the route (also the method name that calls it). */
  readonly name: string;
  /** HTTP method. */
  readonly method: HttpMethod;
  /** Path template, e.g. `/v1/calls/{type}/{id}/go_live`. */
  readonly path: string;
  /** The token it takes. */
  readonly auth: RouteAuth;
}

const CALL = "/v1/calls/{type}/{id}";

/** Every route the SDK calls, by name. */
export const ROUTES = [
  { name: "upsertUsers", method: "PUT", path: "/v1/users", auth: "server" },
  { name: "listCallTypes", method: "GET", path: "/v1/call-types", auth: "any" },
  { name: "getCallType", method: "GET", path: "/v1/call-types/{name}", auth: "any" },
  { name: "updateCallType", method: "PUT", path: "/v1/call-types/{name}", auth: "server" },
  { name: "listEvents", method: "GET", path: "/v1/events", auth: "any" },
  { name: "addDevice", method: "POST", path: "/v1/devices", auth: "user" },
  { name: "listDevices", method: "GET", path: "/v1/devices", auth: "user" },
  { name: "deleteDevice", method: "DELETE", path: "/v1/devices", auth: "user" },
  { name: "listWebhooks", method: "GET", path: "/v1/webhooks", auth: "server" },
  { name: "setWebhooks", method: "PUT", path: "/v1/webhooks", auth: "server" },
  { name: "listFailedWebhooks", method: "GET", path: "/v1/webhooks/failed", auth: "server" },
  { name: "redeliverWebhooks", method: "POST", path: "/v1/webhooks/failed/redeliver", auth: "server" },
  { name: "getOrCreateCall", method: "POST", path: CALL, auth: "any" },
  { name: "getCall", method: "GET", path: CALL, auth: "any" },
  { name: "updateCall", method: "PATCH", path: CALL, auth: "any" },
  { name: "deleteCall", method: "DELETE", path: CALL, auth: "any" },
  { name: "goLive", method: "POST", path: `${CALL}/go_live`, auth: "any" },
  { name: "stopLive", method: "POST", path: `${CALL}/stop_live`, auth: "any" },
  { name: "endCall", method: "POST", path: `${CALL}/end`, auth: "any" },
  { name: "joinCall", method: "POST", path: `${CALL}/join`, auth: "user" },
  { name: "updateMembers", method: "POST", path: `${CALL}/members`, auth: "any" },
  { name: "listMembers", method: "GET", path: `${CALL}/members`, auth: "any" },
  { name: "listSessions", method: "GET", path: `${CALL}/sessions`, auth: "any" },
  { name: "listParticipants", method: "GET", path: `${CALL}/participants`, auth: "any" },
  { name: "updateParticipant", method: "PATCH", path: `${CALL}/participants/{identity}`, auth: "any" },
  { name: "requestPermission", method: "POST", path: `${CALL}/request_permission`, auth: "user" },
  { name: "updateUserPermissions", method: "POST", path: `${CALL}/user_permissions`, auth: "any" },
  { name: "sendEvent", method: "POST", path: `${CALL}/event`, auth: "any" },
  { name: "sendReaction", method: "POST", path: `${CALL}/reaction`, auth: "any" },
  { name: "ring", method: "POST", path: `${CALL}/ring`, auth: "user" },
  { name: "accept", method: "POST", path: `${CALL}/accept`, auth: "user" },
  { name: "reject", method: "POST", path: `${CALL}/reject`, auth: "user" },
  { name: "kickUser", method: "POST", path: `${CALL}/kick_user`, auth: "any" },
  { name: "muteUsers", method: "POST", path: `${CALL}/mute_users`, auth: "any" },
  { name: "blockUsers", method: "POST", path: `${CALL}/block_users`, auth: "any" },
  { name: "unblockUsers", method: "POST", path: `${CALL}/unblock_users`, auth: "any" },
  { name: "startRecording", method: "POST", path: `${CALL}/recordings/start`, auth: "any" },
  { name: "stopRecording", method: "POST", path: `${CALL}/recordings/stop`, auth: "any" },
  { name: "listRecordings", method: "GET", path: `${CALL}/recordings`, auth: "any" },
  { name: "startHLS", method: "POST", path: `${CALL}/hls/start`, auth: "any" },
  { name: "stopHLS", method: "POST", path: `${CALL}/hls/stop`, auth: "any" },
  { name: "startRTMPBroadcast", method: "POST", path: `${CALL}/rtmp_broadcasts`, auth: "any" },
  { name: "stopRTMPBroadcast", method: "DELETE", path: `${CALL}/rtmp_broadcasts/{name}`, auth: "any" },
] as const satisfies readonly Route[];

/** The name of a route in {@link ROUTES}. */
export type RouteName = (typeof ROUTES)[number]["name"];

/** The route named `name`; throws for a name the table lacks. */
export function route(name: RouteName): Route {
  const found = ROUTES.find((r) => r.name === name);
  if (!found) throw new Error(`no route named ${name}`);
  return found;
}

/**
 * The path of `r` with its `{param}`s filled from `params` (each
 * percent-encoded); throws when one is missing or empty.
 */
export function fillPath(r: Route, params: Record<string, string>): string {
  return r.path.replace(/\{([a-z_]+)\}/g, (_, key: string) => {
    const value = params[key];
    if (typeof value !== "string" || value === "") {
      throw new TypeError(`${r.name}: path parameter \`${key}\` is required`);
    }
    return encodeURIComponent(value);
  });
}
