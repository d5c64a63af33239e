// Chat, reactions and ringing.
// - Chat rides LiveKit data messages (reliable, topic `lk-chat-topic`, JSON
//   {id, timestamp, message} as LiveKit's components send), straight between
//   participants: nothing is stored on the server.
// - Reactions go through the SDK (call.sendReaction → the API), which tells
//   members' sockets (`call.reaction_new`) and sends everyone in the media a
//   data message on topic `onair.reaction`; the page shows the latter, and
//   the socket event only while watching over HLS (no data channel then).
// - Ringing: call.ring / getOrCreate({ring}) out; `call.ring` on the events
//   socket in, answered in a dialog with call.accept() / call.reject().
import { $, h, toast, why } from "./ui.js";

const CHAT_TOPIC = "lk-chat-topic";
const REACTIONS = [
  { type: "like", emoji_code: ":+1:", emoji: "👍" },
  { type: "heart", emoji_code: ":heart:", emoji: "❤️" },
  { type: "laugh", emoji_code: ":joy:", emoji: "😂" },
  { type: "celebrate", emoji_code: ":tada:", emoji: "🎉" },
  { type: "raised-hand", emoji_code: ":raised_hand:", emoji: "✋" },
];
const EMOJI = Object.fromEntries(REACTIONS.map((r) => [r.emoji_code, r.emoji]));

export function initSocial(app, { listen }) {
  initChat(app);
  initReactions(app);
  initRinging(app, listen);
}

// ---- chat ------------------------------------------------------------------

const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

/** A line of the chat log: a message, or a reaction (`kind`). */
function chatLine(from, body, { mine = false, kind = "msg", at = Date.now() } = {}) {
  const log = $("chat-log");
  const li = h("li", { class: `${kind}${mine ? " mine" : ""}`, dataset: { from } },
    h("span", { class: "from" }, mine ? "you" : from),
    h("time", { datetime: new Date(at).toISOString() }, time(at)),
    h("p", { class: "text" }, body));
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  while (log.children.length > 200) log.firstChild.remove();
  if (atBottom || mine) log.scrollTop = log.scrollHeight;
}

function initChat(app) {
  $("chat-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("chat-input");
    const message = input.value.trim();
    if (!message || !app.room) return;
    const packet = { id: crypto.randomUUID(), timestamp: Date.now(), message };
    try {
      await app.room.localParticipant.publishData(new TextEncoder().encode(JSON.stringify(packet)), { reliable: true, topic: CHAT_TOPIC });
      chatLine(app.user, message, { mine: true, at: packet.timestamp });
      input.value = "";
    } catch (err) {
      toast(`not sent: ${why(err)}`, "error");
    }
  });
  app.on("data", ({ text, participant, topic }) => {
    if (topic !== CHAT_TOPIC) return;
    let packet;
    try { packet = JSON.parse(text); } catch { return; }
    if (typeof packet.message !== "string") return;
    const from = participant ? participant.name || participant.identity : "server";
    chatLine(from, packet.message, { at: Number(packet.timestamp) || Date.now() });
  });
  app.on("joined", () => $("chat-log").replaceChildren());
}

// ---- reactions ---------------------------------------------------------------

function showReaction(app, userId, reaction) {
  if (!reaction || typeof reaction.type !== "string") return;
  const emoji = EMOJI[reaction.emoji_code] || reaction.emoji_code || reaction.type;
  const mine = userId === app.user;
  chatLine(userId, `reacted ${emoji}`, { mine, kind: "reaction" });
  // A bubble rising over the stage.
  const bubble = h("span", { class: "bubble", style: `left:${10 + Math.random() * 80}%` }, emoji, h("small", {}, mine ? "you" : userId));
  $("reaction-layer").append(bubble);
  setTimeout(() => bubble.remove(), 3000);
}

function initReactions(app) {
  const bar = $("reactions");
  for (const r of REACTIONS) {
    const b = h("button", { type: "button", class: "emoji", title: r.type, "aria-label": `React ${r.type}`, dataset: { reaction: r.type } }, r.emoji);
    b.addEventListener("click", async () => {
      if (!app.call) return;
      try {
        await app.call.sendReaction({ type: r.type, emoji_code: r.emoji_code });
      } catch (err) {
        toast(`reaction: ${why(err)}`, "error");
      }
    });
    bar.append(b);
  }
  app.on("data", ({ text, topic }) => {
    if (topic !== "onair.reaction") return;
    try {
      const { user_id, reaction } = JSON.parse(text);
      showReaction(app, String(user_id), reaction);
    } catch { /* not ours */ }
  });
  let off = null;
  app.on("joined", (call) => {
    if (off) off();
    off = call.on("call.reaction_new", (e) => { if (!app.room && app.call === call) showReaction(app, String(e.user_id), e.reaction); });
  });
  app.on("left", () => { off && off(); off = null; });
}

// ---- ringing -----------------------------------------------------------------

function initRinging(app, listen) {
  const { ringOf } = window.OnAir;
  let outgoing = null; // { call, target, offs }

  const showOut = (text, { cancel = false, done = false } = {}) => {
    $("ring-out").hidden = false;
    $("ring-out").dataset.state = done ? "done" : "ringing";
    $("ring-out-text").textContent = text;
    $("ring-cancel").hidden = !cancel;
    if (done) setTimeout(() => { if (!outgoing) $("ring-out").hidden = true; }, 6000);
  };
  const endOut = (text) => {
    if (!outgoing) return;
    outgoing.offs.forEach((f) => f());
    outgoing = null;
    showOut(text, { done: true });
  };

  /** Follows the answers to a ring this user made on `call`. */
  function follow(call, target) {
    if (outgoing) outgoing.offs.forEach((f) => f());
    const offs = [
      call.on("call.accepted", (e) => { if (e.user_id === target) endOut(`${target} accepted`); }),
      call.on("call.rejected", (e) => {
        if (e.user_id === target) endOut(`${target} declined${e.reason && e.reason !== "decline" ? ` (${e.reason})` : ""}`);
        else if (e.user_id === app.user) endOut("cancelled");
      }),
      call.on("call.missed", (e) => { if ((e.members || []).includes(target)) endOut(`${target} did not answer`); }),
    ];
    outgoing = { call, target, offs };
    showOut(`Ringing ${target}…`, { cancel: true });
  }

  $("ring-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const target = $("ring-user").value.trim();
    if (!target) return;
    if (target === app.user) return toast("that is you", "error");
    $("ring-go").disabled = true;
    try {
      if (app.room) {
        // In a call: add them to it, then ring them into it.
        const call = app.call;
        if (!call.state.members.some((m) => m.user_id === target)) await call.updateMembers({ update_members: [target] });
        await call.ring({ members_ids: [target], video: true });
        follow(call, target);
      } else {
        // Not in a call: a new one with them, ringing, and wait in it like a phone does.
        const client = await app.signIn($("user").value.trim());
        const call = client.call("default", `ring-${Math.random().toString(36).slice(2, 10)}`);
        await call.getOrCreate({ members: [target], ring: true, video: true });
        follow(call, target);
        $("call").value = call.cid;
        $("mode").value = "publish";
        await app.join();
      }
      $("ring-user").value = "";
    } catch (err) {
      toast(`ring ${target}: ${why(err)}`, "error");
    } finally {
      $("ring-go").disabled = false;
    }
  });
  $("ring-cancel").addEventListener("click", async () => {
    if (!outgoing) return;
    try { await outgoing.call.reject("cancel"); } catch (err) { toast(why(err), "error"); }
    endOut("cancelled");
  });

  // Incoming rings: every client the app signs in with hears them.
  let incoming = null; // { call, off }
  const dialog = $("incoming");
  const closeIncoming = () => {
    if (incoming) incoming.off();
    incoming = null;
    if (dialog.open) dialog.close();
  };

  async function answer(call) {
    closeIncoming();
    try {
      await call.accept();
      $("call").value = call.cid;
      $("mode").value = "publish";
      await app.join();
    } catch (err) {
      toast(`accept: ${why(err)}`, "error");
    }
  }

  app.on("client", (client) => client.on("call.ring", (e) => {
    const ring = ringOf(e, client.userId);
    if (!ring || !ring.incoming || app.client !== client) return;
    const call = client.call(e.call_cid);
    // `?listen=1`: answer by itself (for tests, and kiosk-like pages).
    if (listen) {
      app.status(`${ring.caller_id} is calling…`);
      return void answer(call);
    }
    closeIncoming();
    $("incoming-title").textContent = `${ring.caller_id} is calling`;
    $("incoming-detail").textContent = `${ring.video ? "Video" : "Audio"} call · ${e.call_cid}` + (app.room ? " · accepting leaves your current call" : "");
    dialog.dataset.cid = e.call_cid;
    // The ring can end before an answer: cancelled, missed, or accepted on another device.
    const off = call.state.on("ringing", ({ state }) => {
      if (state.ringing === "ringing") return;
      closeIncoming();
      toast(`missed call from ${ring.caller_id}`);
    });
    incoming = { call, off };
    dialog.showModal();
  }));

  $("ring-accept").addEventListener("click", () => incoming && answer(incoming.call));
  $("ring-reject").addEventListener("click", async () => {
    if (!incoming) return;
    const { call } = incoming;
    closeIncoming();
    try { await call.reject(); } catch (err) { toast(`decline: ${why(err)}`, "error"); }
  });
  dialog.addEventListener("cancel", (e) => e.preventDefault()); // Esc does not drop the call unanswered

  // Rings members of the call in the form, as its user (tests call this).
  window.onairRing = async (members) => {
    const call = app.call || app.client.call($("call").value.trim());
    try {
      const ring = await call.ring({ members_ids: members, video: true });
      follow(call, members[0]);
      return { ok: true, ring };
    } catch (e) {
      return { ok: false, status: e.status, code: e.code, message: e.message };
    }
  };
  app.on("left", (call) => { if (outgoing && outgoing.call === call) endOut("left the call"); });
}
