// Moving off a dead SFU node: while the Room reconnects, the call asks
// where its media is and moves once the answer is another node; a Room
// that comes back by itself stops the asking.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { watchFailover, livekit } from "../../dist/index.js";

const { RoomEvent } = livekit;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("a reconnecting call moves once the API names another node", async () => {
  const room = new EventEmitter();
  const answers = ["ws://a", "ws://a", "ws://b", "ws://c"];
  let asked = 0;
  const moves = [];
  watchFailover(room, "ws://a", async () => ({ url: answers[asked++] }), async (to) => { moves.push(to.url); }, 5);
  await sleep(30);
  assert.equal(asked, 0, "nothing asked while the room is up");
  room.emit(RoomEvent.Reconnecting);
  room.emit(RoomEvent.SignalReconnecting);
  await sleep(60);
  assert.deepEqual(moves, ["ws://b"]);
  assert.equal(asked, 3, "no asking after the move");
});

test("a room that comes back stops the asking; the API failing is asked again", async () => {
  const room = new EventEmitter();
  let asked = 0;
  const moves = [];
  const where = async () => {
    asked++;
    if (asked === 1) throw new Error("API unreachable");
    return { url: "ws://a" };
  };
  const stop = watchFailover(room, "ws://a", where, async (to) => { moves.push(to.url); }, 5);
  room.emit(RoomEvent.Reconnecting);
  await sleep(40);
  assert.ok(asked >= 2, `asked ${asked} times`);
  room.emit(RoomEvent.Reconnected);
  await sleep(20);
  const then = asked;
  await sleep(40);
  assert.equal(asked, then, "no asking once reconnected");
  stop();
  room.emit(RoomEvent.Reconnecting);
  await sleep(40);
  assert.equal(asked, then, "none after stop");
  assert.deepEqual(moves, []);
});
