/**
 * HS256 JSON Web Tokens with `node:crypto`, laid out as OnAir's own minting
 * (the Rust `jsonwebtoken` crate) lays them out: header `{"typ":"JWT","alg":"HS256"}`,
 * compact JSON, base64url without padding.
 * @module
 */
import { createHmac } from "node:crypto";

const HEADER = Buffer.from(JSON.stringify({ typ: "JWT", alg: "HS256" })).toString("base64url");

/** Signs `claims` with `secret` (HS256) and returns the compact JWT. */
export function signHS256(claims: Record<string, unknown>, secret: string): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const input = `${HEADER}.${payload}`;
  const signature = createHmac("sha256", secret).update(input).digest("base64url");
  return `${input}.${signature}`;
}
