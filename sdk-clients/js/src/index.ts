/**
 * `@onair/client`: OnAir for web apps. {@link OnAirClient} talks to the
 * REST API and the events socket; `client.call(type, id)` gives a
 * {@link Call} to create, ring, join (through livekit-client), go live and
 * record; {@link LivestreamPlayer} watches a call over WebRTC with an HLS
 * fallback.
 * @packageDocumentation
 */
export { OnAirClient, splitCid, type OnAirClientOptions } from "./client.js";
export { Call, type CallHost, type JoinOptions, type LeaveOptions } from "./call/call.js";
export { CallState, type CallStateChange, type CallStateField, type CallStatePatch, type ParticipantState, type TrackState } from "./call/state.js";
export { ringingAfter, ringOf, type RingInfo, type RingingState } from "./call/ringing.js";
export { callAfter, membersAfter, patchFor } from "./call/apply.js";
export { iceServersOf, type MediaOptions } from "./call/media.js";
export { watchFailover, connectPlaced, anotherNodeMayHelp, FAILOVER_POLL_MS, PLACEMENT_RETRY_MS, type Placing } from "./call/failover.js";
export type * from "./call/requests.js";
export { LivestreamPlayer, type LivestreamPlayerOptions, type PlayerMode } from "./player/livestream-player.js";
export { playHls, type HlsPlayback } from "./player/hls.js";
export { OnAirError } from "./errors.js";
export { decodeToken, TokenManager, type TokenClaims, type TokenProvider, type TokenManagerOptions } from "./token.js";
export { Rest, type FetchLike, type Query } from "./http.js";
export { Emitter, type Listener } from "./emitter.js";
export { EventSocket, type EventSocketOptions, type SocketStatus, type WebSocketConstructor, type WebSocketLike } from "./events/socket.js";
export { EventCursor, compareIds, sortEvents } from "./events/cursor.js";
export { backoffDelay, type BackoffOptions } from "./events/backoff.js";
export type * from "./events/types.js";
export type * from "./types.js";
/** livekit-client itself (the same copy the SDK uses), for `Track`, `RoomEvent` and the rest. */
export * as livekit from "livekit-client";
