// verifyWebhook: a published HMAC-SHA256 vector, signatures computed here
// with node:crypto independently of the SDK, and every kind of wrong input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { OnAirServer, verifyWebhookSignature } from "../dist/index.js";

const server = (apiSecret) => new OnAirServer({ baseUrl: "http://127.0.0.1:1", apiKey: "APIkey", apiSecret });

test("RFC 4231 test case 2 verifies", () => {
  const sig = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  assert.equal(server("Jefe").verifyWebhook("what do ya want for nothing?", sig), true);
  assert.equal(verifyWebhookSignature("Jefe", Buffer.from("what do ya want for nothing?"), sig), true);
  assert.equal(server("jefe").verifyWebhook("what do ya want for nothing?", sig), false);
});

test("a signature computed with node:crypto verifies, as a string and as raw bytes", () => {
  const secret = randomBytes(32).toString("hex");
  const body = JSON.stringify({ type: "call.created", call_cid: "default:x", note: "héllo ✓" });
  const sig = createHmac("sha256", secret).update(Buffer.from(body, "utf8")).digest("hex");
  const onair = server(secret);
  assert.equal(onair.verifyWebhook(body, sig), true);
  assert.equal(onair.verifyWebhook(Buffer.from(body, "utf8"), sig), true);
  assert.equal(onair.verifyWebhook(new Uint8Array(Buffer.from(body, "utf8")), sig), true);
});

test("a tampered body, a wrong signature or another secret is refused", () => {
  const secret = randomBytes(32).toString("hex");
  const body = '{"type":"call.ended","call_cid":"livestream:show"}';
  const sig = createHmac("sha256", secret).update(body).digest("hex");
  const onair = server(secret);
  assert.equal(onair.verifyWebhook(body.replace("ended", "endex"), sig), false);
  assert.equal(onair.verifyWebhook(body + " ", sig), false);
  const flipped = (sig[0] === "0" ? "1" : "0") + sig.slice(1);
  assert.equal(onair.verifyWebhook(body, flipped), false);
  assert.equal(server(secret + "x").verifyWebhook(body, sig), false);
  // A re-serialized body is not the body that was signed.
  assert.equal(onair.verifyWebhook(JSON.stringify(JSON.parse(body), null, 1), sig), false);
});

test("malformed signatures are false, never a throw", () => {
  const secret = "s3cret";
  const body = "{}";
  const sig = createHmac("sha256", secret).update(body).digest("hex");
  const onair = server(secret);
  for (const bad of [undefined, null, "", sig.slice(0, 63), sig + "0", sig.toUpperCase(), "z".repeat(64), `sha256=${sig}`]) {
    assert.equal(onair.verifyWebhook(body, bad), false, String(bad));
  }
  assert.equal(onair.verifyWebhook(body, sig), true);
});
