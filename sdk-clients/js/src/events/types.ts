/**
 * Events as apps hear them on the events socket (`/v1/connect`) and read
 * them from `GET /v1/events`: one envelope `{id, type, created_at,
 * call_cid, …fields}`, named after Stream Video's events.
 * @packageDocumentation
 */

/** Any event of OnAir's event log. */
export interface OnAirEvent {
  /** Its id: a decimal string, larger for every later event. */
  id: string;
  /** Its type (`call.ring`, `call.live_started`, `custom`, …). */
  type: string;
  /** When it happened (RFC 3339). */
  created_at: string;
  /** The call it concerns (`type:id`). */
  call_cid: string;
  [field: string]: unknown;
}

/** `call.ring`: `user_id` rings `members`; `ringing` are those whose phones ring (not busy). */
export interface CallRingEvent extends OnAirEvent {
  /** The event's type. */
  type: "call.ring";
  /** The ring. */
  ring_id: string;
  /** Who rings (the caller). */
  user_id: string;
  /** Everyone rung. */
  members: string[];
  /** Whose phones ring. */
  ringing: string[];
  /** A video call. */
  video: boolean;
}

/** `call.accepted`: `user_id` accepted the ring. */
export interface CallAcceptedEvent extends OnAirEvent {
  /** The event's type. */
  type: "call.accepted";
  /** The ring. */
  ring_id: string;
  /** Who accepted. */
  user_id: string;
  /** Whose phones stop ringing. */
  stop_ringing: string[];
}

/** `call.rejected`: `user_id` rejected the ring (or the caller cancelled it). */
export interface CallRejectedEvent extends OnAirEvent {
  /** The event's type. */
  type: "call.rejected";
  /** The ring. */
  ring_id: string;
  /** Who rejected. */
  user_id: string;
  /** `decline`, `busy`, `cancel` or `timeout`. */
  reason: string;
  /** Whether the ring is over for everyone. */
  ring_ended: boolean;
  /** Whose phones stop ringing. */
  stop_ringing: string[];
}

/** `call.missed`: `members` never answered `user_id`'s ring. */
export interface CallMissedEvent extends OnAirEvent {
  /** The event's type. */
  type: "call.missed";
  /** The ring. */
  ring_id: string;
  /** Who rang. */
  user_id: string;
  /** Who missed it. */
  members: string[];
  /** A video call. */
  video: boolean;
}

/** The events socket is open: `connection_id` names it for `?connection_id=` watches. */
export interface ConnectionOkEvent {
  /** The event's type. */
  type: "connection.ok";
  /** This connection's id. */
  connection_id: string;
  /** The user (absent for a server token). */
  user_id: string | null;
  /** The last event id before this connection's first event. */
  last_event_id: string;
  /** Whether this connection resumed an earlier one (replaying what was missed). */
  resumed: boolean;
}

/** The events socket went down (`online: false`) or came back (`online: true`). */
export interface ConnectionChangedEvent {
  /** The event's type. */
  type: "connection.changed";
  /** Whether the socket is open. */
  online: boolean;
}

/** The server refused the socket (`{code, message}`), e.g. an expired token. */
export interface ConnectionErrorEvent {
  /** The event's type. */
  type: "connection.error";
  /** The refusal. */
  error: { code: string; message: string };
}

/** What `OnAirClient.on` listeners receive: server events and the socket's own. */
export type ClientEvent = OnAirEvent | ConnectionOkEvent | ConnectionChangedEvent | ConnectionErrorEvent;
