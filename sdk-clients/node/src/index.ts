/**
 * `@onair/node`: OnAir for app backends. See the README for a tour.
 * @packageDocumentation
 */
export { OnAirServer, type OnAirServerOptions } from "./server.js";
export { OnAirApi } from "./api.js";
export { Call } from "./call.js";
export { OnAirError } from "./errors.js";
export { ROUTES, type Route, type RouteName, type RouteAuth, type HttpMethod } from "./routes.js";
export type { RequestOptions } from "./transport.js";
export type { UserTokenOptions, ServerTokenOptions } from "./tokens.js";
export { verifyWebhookSignature } from "./webhook.js";
export type * from "./types.js";
