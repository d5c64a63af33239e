// The socket's bookkeeping: where it resumes, which events it already
// delivered, and how long it waits between reconnects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventCursor, compareIds, sortEvents, backoffDelay } from "../../dist/index.js";

const ev = (id) => ({ id: String(id), type: "custom", created_at: "", call_cid: "default:a" });

test("ids compare as numbers of any length", () => {
  assert.ok(compareIds("9", "10") < 0);
  assert.ok(compareIds("123456789012345678901", "99") > 0);
  assert.equal(compareIds("42", "42"), 0);
  assert.deepEqual(sortEvents([ev(10), ev(9), ev(100)]).map((e) => e.id), ["9", "10", "100"]);
});

test("the cursor starts at the server's last id and follows the socket forward only", () => {
  const c = new EventCursor();
  assert.equal(c.after, undefined);
  c.start("5");
  assert.equal(c.after, "5");
  assert.equal(c.fromSocket(ev(7)), true);
  c.start("100");
  assert.equal(c.after, "7", "a later connection.ok does not move a cursor that has seen events");
  assert.equal(c.fromSocket(ev(6)), true);
  assert.equal(c.after, "7", "an older event does not move it back");
});

test("repeats are dropped, whichever way they came; catch-up reads do not move the cursor", () => {
  const c = new EventCursor();
  c.start("0");
  assert.equal(c.fromElsewhere(ev(12)), true);
  assert.equal(c.after, "0");
  assert.equal(c.fromSocket(ev(12)), false, "already delivered by the catch-up");
  assert.equal(c.after, "12");
  assert.equal(c.fromSocket(ev(13)), true);
  assert.equal(c.fromElsewhere(ev(13)), false);
});

test("backoff doubles from the base, stays within [half, all] of it, and is capped", () => {
  const at = (attempt, r) => backoffDelay(attempt, { baseMs: 100, maxMs: 1000, random: () => r });
  assert.deepEqual([0, 1, 2, 3].map((a) => at(a, 0.999999)), [100, 200, 400, 800]);
  assert.deepEqual([0, 1, 2, 3].map((a) => at(a, 0)), [50, 100, 200, 400]);
  assert.equal(at(4, 0.999999), 1000);
  assert.equal(at(50, 0), 500);
  const first = backoffDelay(0);
  assert.ok(first >= 250 && first <= 500, `default first wait ${first} ms`);
  assert.ok(backoffDelay(20) <= 30_000, "default cap");
});
