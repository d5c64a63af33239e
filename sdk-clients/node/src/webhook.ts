/**
 * Webhook signatures: `X-Signature` is the lowercase hex HMAC-SHA256 of the
 * raw request body with the API secret (Stream's scheme).
 * @module
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Whether `signature` is the signature of `body` under `apiSecret`,
 * compared in constant time. `body` must be the raw bytes received (not
 * re-serialized JSON). Anything malformed is `false`.
 */
export function verifyWebhookSignature(
  apiSecret: string,
  body: string | Uint8Array,
  signature: string | null | undefined,
): boolean {
  if (typeof signature !== "string" || !/^[0-9a-f]{64}$/.test(signature)) return false;
  if (typeof body !== "string" && !(body instanceof Uint8Array)) return false;
  const expected = createHmac("sha256", apiSecret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(signature, "hex"));
}
