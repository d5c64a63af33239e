// Moving off a dead SFU node: while the Room reconnects, the call asks
// where its media is and moves once the answer is another node; a Room
// that comes back by itself stops the asking. A first connect that the
// named node cannot take asks the same way.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { watchFailover, connectPlaced, anotherNodeMayHelp, livekit } from "../../dist/index.js";

const { RoomEvent, ConnectionError } = livekit;
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

/** A connect that fails with `errors[url]` (if any) and notes where it went. */
function connector(errors, went) {
  return async (c) => {
    went.push(c.url);
    if (errors[c.url]) throw errors[c.url];
  };
}

test("a join whose node cannot be reached connects where the API names next", async () => {
  const answers = ["ws://a", "ws://a", "ws://b"];
  let asked = 0;
  const went = [];
  const unreachable = ConnectionError.serverUnreachable("connection refused");
  const placed = await connectPlaced({ url: "ws://a" }, {
    connect: connector({ "ws://a": unreachable }, went),
    where: async () => ({ url: answers[asked++] }),
    joining: () => true,
    everyMs: 5,
  });
  assert.equal(placed.url, "ws://b");
  assert.deepEqual(went, ["ws://a", "ws://b"], "the dead node is not tried twice");
  assert.equal(asked, 3);
});

test("a join gives up: errors any node would give, a node that never changes, an app that left", async () => {
  const refused = ConnectionError.notAllowed("token expired", 401);
  const went = [];
  let asked = 0;
  const where = async () => { asked++; return { url: "ws://b" }; };
  await assert.rejects(connectPlaced({ url: "ws://a" }, { connect: connector({ "ws://a": refused }, went), where, joining: () => true }), refused);
  assert.equal(asked, 0, "a refused token is not retried elsewhere");
  assert.equal(anotherNodeMayHelp(new Error("camera denied")), false);
  assert.equal(anotherNodeMayHelp(ConnectionError.internal("could not establish pc connection")), false, "media that cannot connect");

  // What livekit-client 2.23 reports for a node refusing the WebSocket (503, draining).
  const draining = ConnectionError.websocket("could not establish signal connection: Encountered websocket error during connection establishment");
  assert.equal(anotherNodeMayHelp(draining), true);
  assert.equal(anotherNodeMayHelp(ConnectionError.internal("could not establish signal connection: Encountered unknown websocket error")), true);
  assert.equal(anotherNodeMayHelp(ConnectionError.serverUnreachable("could not establish signal connection: Failed to fetch")), true);
  const sameNode = connectPlaced({ url: "ws://a" }, { connect: connector({ "ws://a": draining }, went), where: async () => ({ url: "ws://a" }), joining: () => true, withinMs: 30, everyMs: 5 });
  await assert.rejects(sameNode, draining, "nowhere else to go: the connect error");

  let joining = true;
  const leaving = connectPlaced({ url: "ws://a" }, {
    connect: connector({ "ws://a": draining }, went),
    where: async () => { joining = false; return { url: "ws://a" }; },
    joining: () => joining,
    everyMs: 5,
  });
  await assert.rejects(leaving, draining, "the app left while the join looked for a node");
});
