// The demo app's core: who the user is (an OnAirClient with a dev token and
// the events socket), joining and leaving a call (call.join → call.room),
// video tiles, the participant list, camera/mic/screen controls with device
// choice, and the hooks the browser tests read (window.onair*).
import { $, h, icon, iconButton, toast, why, initial, hue } from "./ui.js";
import { initSocial } from "./social.js";
import { initHost } from "./host.js";

const { OnAirClient, splitCid, playHls, livekit: LK } = window.OnAir;
const { RoomEvent, Track } = LK;
const params = new URLSearchParams(location.search);

// Test and console hooks, as the earlier page had them.
window.onairEvents = [];
window.onairData = [];
let lastRoom = null; // the latest Room, kept after it disconnects (tests read its state)

/** Shared state of the app and a small event bus between its modules. */
const app = {
  client: null, // OnAirClient of the signed-in user
  user: "",
  token: "", // the user's dev token (shown as the OBS/WHIP stream key)
  call: null, // the joined Call (also while watching over HLS)
  room: null, // call.room while connected
  mode: "publish",
  listeners: new Map(),
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
  },
  emit(type, ...args) {
    for (const fn of this.listeners.get(type) ?? []) {
      try { fn(...args); } catch (e) { console.error(`demo: ${type} listener`, e); }
    }
  },
  join: (...a) => join(...a),
  leave: (...a) => leave(...a),
  signIn: (...a) => signIn(...a),
  status: (...a) => status(...a),
};
window.onairApp = app;

function status(text) {
  $("status").textContent = text;
}

// ---- who the user is ----------------------------------------------------

/** A user token from `onair dev`'s dev-only route (an app gets it from its backend). */
async function devToken(user) {
  const res = await fetch("/dev/token", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: user }),
  });
  const body = await res.json();
  if (!res.ok) throw Object.assign(new Error(body.message), body);
  return body.token;
}

/**
 * The client of `user`, with its events socket open: rings reach the user
 * as soon as the page is open, not only while in a call.
 */
let signing = null; // { user, promise } of the latest sign-in, so concurrent callers share it
function signIn(user) {
  if (signing && signing.user === user) return signing.promise;
  if (app.room) return Promise.reject(new Error("leave the call before changing your name"));
  const promise = openClient(user);
  signing = { user, promise };
  promise.catch(() => { if (signing && signing.promise === promise) signing = null; });
  return promise;
}

async function openClient(user) {
  app.client?.disconnect();
  const token = await devToken(user);
  const client = new OnAirClient({ baseUrl: location.origin, token, tokenProvider: () => devToken(user) });
  Object.assign(app, { client, user, token });
  $("me").textContent = user;
  client.on("*", (e) => {
    if (app.client !== client) return;
    window.onairEvents.push(e);
    if (window.onairEvents.length > 2000) window.onairEvents.shift();
  });
  client.on("connection.ok", () => setOnline(client, true));
  client.on("connection.changed", (e) => setOnline(client, e.online));
  client.on("connection.error", (e) => toast(`events socket refused: ${e.error.code}: ${e.error.message}`, "error"));
  app.emit("client", client);
  await client.connect();
  return client;
}

function setOnline(client, online) {
  if (app.client !== client) return;
  $("online").classList.toggle("on", online);
  $("online").title = online ? "online: rings reach you here" : "offline: reconnecting";
}

// ---- joining and leaving ------------------------------------------------

// Devices chosen in the selects; a rejoin keeps them.
const chosen = { audioinput: "", videoinput: "" };
let hlsPlayback = null;
let watching = 0; // bumps on leave, so a pending HLS wait stops

/** Joins the call in the form, in the chosen mode. */
async function join() {
  const user = $("user").value.trim();
  app.mode = $("mode").value;
  let type, id;
  try {
    [type, id] = splitCid($("call").value.trim());
  } catch (e) {
    return status(`error: ${why(e)}`);
  }
  $("go").disabled = true;
  status("joining…");
  try {
    const client = await signIn(user);
    if (app.call) await leave();
    const call = client.call(type, id);
    app.call = call;
    if (app.mode === "hls") return await watchHls(call);
    await joinWhenLive(call);
  } catch (e) {
    app.call = null;
    window.onairError = e && e.code ? { code: e.code, message: e.message, status: e.status } : String(e);
    status(`refused: ${why(e)}`);
    showCall(false);
  } finally {
    $("go").disabled = false;
  }
}

/** `call.join()` with the page's options; then the room is watched and drawn. */
async function joinMedia(call) {
  // `?e2ee=PASSPHRASE`: end-to-end encryption with a shared key (the SFU
  // forwards frames it cannot read); `?codec=h264`: the camera's codec;
  // `?adaptive=1`: livekit-client's adaptive stream; `?pc=2`: two peer
  // connections (`/rtc`) instead of one (`/rtc/v1`).
  const roomOptions = { adaptiveStream: params.get("adaptive") === "1", dynacast: params.get("dynacast") === "1" };
  if (params.get("pc") === "2") roomOptions.singlePeerConnection = false;
  if (params.get("codec")) roomOptions.publishDefaults = { videoCodec: params.get("codec") };
  let keyProvider = null;
  if (params.get("e2ee")) {
    keyProvider = new LK.ExternalE2EEKeyProvider();
    await keyProvider.setKey(params.get("e2ee"));
    roomOptions.e2ee = { keyProvider, worker: new Worker("/vendor/livekit-client.e2ee.worker.js") };
  }
  const publish = app.mode === "publish";
  const camera = chosen.videoinput ? { deviceId: chosen.videoinput } : true;
  const microphone = chosen.audioinput ? { deviceId: chosen.audioinput } : true;
  // With e2ee the tracks are published once encryption is on (below).
  const options = { create: true, publish: publish && !keyProvider, camera, microphone, roomOptions };
  // `?relay=1`: media only through TURN (the server's own, from the join).
  if (params.get("relay") === "1") options.connectOptions = { rtcConfig: { iceTransportPolicy: "relay" } };
  let res;
  window.onairJoinAt = Date.now(); // tests time join → first frame from here
  try {
    res = await call.join(options);
  } catch (e) {
    // No camera or mic (or no permission): join anyway, to watch and listen.
    if (!options.publish || !/^(NotAllowed|NotFound|NotReadable|Overconstrained)Error$/.test(e && e.name)) throw e;
    toast(`camera/microphone unavailable (${e.name}); joined without them`, "error");
    res = await call.join({ ...options, publish: false });
  }
  const room = call.room;
  Object.assign(app, { room });
  lastRoom = window.onairRoom = room;
  watchRoom(room);
  if (keyProvider) {
    room.on(RoomEvent.EncryptionError, () => { window.onairE2eeErrors = (window.onairE2eeErrors || 0) + 1; });
    await room.setE2EEEnabled(true);
    if (publish && room.localParticipant.permissions?.canPublish) await room.localParticipant.enableCameraAndMicrophone();
  }
  app.waiting = res.waiting;
  renderStatus();
  showCall(true);
  app.emit("joined", call, res);
  refreshDevices();
}

/**
 * Joins; a viewer refused because the show is still in backstage (and may
 * not join ahead) waits for it to go live, then joins.
 */
async function joinWhenLive(call) {
  for (;;) {
    try {
      return await joinMedia(call);
    } catch (e) {
      if (!(e && e.code === "backstage")) throw e;
    }
    const session = ++watching;
    status("waiting for the host to go live (the show is in backstage)");
    showCall(true);
    app.emit("joined", call, null);
    if (!(await untilLive(call, session))) return;
  }
}

/** Resolves true once `call` is live (its event, or a read every 5 s), false if the user left. */
function untilLive(call, session) {
  return new Promise((resolve) => {
    const done = (live) => { off(); clearInterval(timer); resolve(live); };
    const off = call.state.on("backstage", ({ state }) => { if (!state.backstage) done(true); });
    const check = () => {
      if (session !== watching) return done(false);
      call.get().then((r) => { if (!r.call.backstage && session === watching) done(true); }, () => {});
    };
    const timer = setInterval(check, 5000);
    check(); // also has the events socket hear this call
  });
}

/** Watches an HLS broadcast of `call` (no WebRTC): waits for its playlist, then plays it with hls.js. */
async function watchHls(call) {
  const session = ++watching;
  status("waiting for an HLS broadcast (a host starts HLS, or goes live with HLS)");
  showCall(true);
  app.emit("joined", call, null);
  let url = null;
  while (!url) {
    const { call: view } = await call.get();
    if (session !== watching) return;
    const hls = view.egress.hls;
    url = hls && hls.state === "active" && hls.playlist_url;
    if (!url) await new Promise((r) => setTimeout(r, 1000));
    if (session !== watching) return;
  }
  const video = h("video", { autoplay: true, controls: true, playsinline: true });
  video.muted = true; // autoplay needs it; the controls unmute
  tileFor("hls", "HLS broadcast").media.replaceChildren(video);
  hlsPlayback = await playHls(video, url);
  window.onairHls = { hls: hlsPlayback.hls, video };
  status("playing the HLS broadcast");
}

/** Leaves the call (media, or the HLS player). */
async function leave() {
  const call = app.call;
  watching++;
  if (hlsPlayback) { hlsPlayback.destroy(); hlsPlayback = null; }
  if (call && call.room) await call.leave().catch((e) => toast(`leave: ${why(e)}`, "error"));
  left("left");
}

/** Back to the lobby, after leaving or being disconnected (kicked, call ended). */
function left(why) {
  if (!app.call) return;
  const call = app.call;
  Object.assign(app, { call: null, room: null });
  tiles.forEach((t) => t.el.remove());
  tiles.clear();
  $("tiles").dataset.count = "0";
  $("audio").replaceChildren();
  $("people").replaceChildren();
  status(why);
  showCall(false);
  app.emit("left", call);
}

/** Shows the call's panels (joined) or the lobby. */
function showCall(joined) {
  document.body.classList.toggle("joined", joined);
  $("lobby").hidden = joined;
  $("controls").hidden = !joined;
  $("leave").disabled = !joined;
  const media = joined && !!app.room;
  for (const id of ["people-card", "chat-card"]) $(id).hidden = !media;
  for (const id of ["mic", "cam", "mic-device", "cam-device", "share"]) $(id).closest(".group, button").hidden = !media;
  renderControls();
}

function renderStatus() {
  const call = app.call;
  if (!call || !app.room) return;
  const waiting = call.state.backstage && !call.state.ownCapabilities.includes("join-backstage");
  status(`in ${app.room.name} as ${app.user}` + (waiting ? " (waiting for the host to go live)" : ""));
}

// ---- the room: tiles, people, controls -----------------------------------

/** Tiles by key `identity|camera`, `identity|screen` (or `hls`). */
const tiles = new Map();

function tileFor(key, name, isLocal = false) {
  let t = tiles.get(key);
  if (!t) {
    const media = h("div", { class: "media" });
    const avatar = h("div", { class: "avatar", style: `--hue:${hue(name)}` }, initial(name));
    const mic = h("span", { class: "mic" });
    const label = h("span", { class: "name" });
    const kind = key === "hls" ? " hls" : key.endsWith("|screen") ? " screen" : "";
    const el = h("div", { class: "tile" + kind + (isLocal ? " local" : "") },
      avatar, media, h("div", { class: "tag" }, mic, label));
    t = { el, media, mic, label, avatar };
    tiles.set(key, t);
    // Screen shares first: they are what people look at.
    if (key.endsWith("|screen")) $("tiles").prepend(el); else $("tiles").append(el);
    $("tiles").dataset.count = String(tiles.size); // the CSS picks the columns from it
  }
  t.label.textContent = name;
  return t;
}

/** Who is in the call, from call.state (the SDK keeps it from the room): tiles and the list. */
function renderParticipants(participants) {
  const keep = new Set();
  const list = [];
  for (const p of participants) {
    const name = (p.name || p.identity) + (p.isLocal ? " (you)" : "");
    const cam = p.tracks.find((x) => x.source === "camera");
    const mic = p.tracks.find((x) => x.source === "microphone");
    const screen = p.tracks.find((x) => x.source === "screen_share");
    const t = tileFor(`${p.identity}|camera`, name, p.isLocal);
    keep.add(`${p.identity}|camera`);
    t.el.classList.toggle("no-video", !cam || cam.muted || !cam.subscribed);
    t.el.classList.toggle("speaking", p.isSpeaking);
    t.mic.replaceChildren(mic && !mic.muted ? "" : icon("micOff"));
    t.mic.title = mic ? (mic.muted ? "muted" : "") : "no microphone";
    if (screen) {
      keep.add(`${p.identity}|screen`);
      tileFor(`${p.identity}|screen`, `${p.name || p.identity}'s screen`, p.isLocal);
    }
    list.push(personRow(p, { cam, mic, screen }));
  }
  for (const [key, t] of tiles) {
    if (key !== "hls" && !keep.has(key)) { t.el.remove(); tiles.delete(key); }
  }
  $("tiles").dataset.count = String(tiles.size);
  $("people").replaceChildren(...list);
  $("people-count").textContent = String(participants.length);
}

/** One row of the participant list; data-* say what it shows (tests read them). */
function personRow(p, { cam, mic, screen }) {
  const name = p.name || p.identity;
  const micState = !mic ? "none" : mic.muted ? "muted" : "on";
  const member = app.call?.state.members.find((m) => m.user_id === p.identity);
  const state = (on, off, title) => h("span", { class: "st" + (on ? "" : " off"), title }, icon(on ? off[0] : off[1]));
  return h("li", { class: "person" + (p.isSpeaking ? " speaking" : ""), dataset: { identity: p.identity, mic: micState, speaking: p.isSpeaking ? "1" : "0" } },
    h("span", { class: "avatar sm", style: `--hue:${hue(name)}` }, initial(name)),
    h("span", { class: "who" },
      h("span", { class: "pname" }, name),
      p.isLocal ? h("span", { class: "tag-you" }, "you") : null,
      member && member.role !== "call_member" && member.role !== "user" ? h("span", { class: "role" }, member.role) : null),
    h("span", { class: "speak", title: "speaking" }),
    screen ? state(true, ["screen", "screen"], "sharing the screen") : null,
    state(cam && !cam.muted, ["cam", "camOff"], cam ? (cam.muted ? "camera off" : "camera on") : "no camera"),
    state(micState === "on", ["mic", "micOff"], micState === "on" ? "microphone on" : micState === "muted" ? "muted" : "no microphone"));
}

/** Follows `room`: media into tiles, data to the chat, state changes to the controls. */
function watchRoom(room) {
  const call = app.call;
  const off = [];
  const on = (target, event, fn) => { target.on(event, fn); off.push(() => target.off(event, fn)); };
  on(room, RoomEvent.TrackSubscribed, attachRemote);
  on(room, RoomEvent.TrackUnsubscribed, (track) => track.detach().forEach((el) => el.remove()));
  on(room, RoomEvent.LocalTrackPublished, (pub) => attachLocal(pub));
  on(room, RoomEvent.LocalTrackUnpublished, (pub) => pub.track && pub.track.detach().forEach((el) => el.remove()));
  on(room, RoomEvent.DataReceived, (payload, participant, _kind, topic) => {
    const text = new TextDecoder().decode(payload);
    window.onairData = window.onairData.concat([{ from: participant && participant.identity, text, topic }]);
    app.emit("data", { text, participant, topic });
  });
  for (const e of [RoomEvent.LocalTrackPublished, RoomEvent.LocalTrackUnpublished, RoomEvent.TrackMuted, RoomEvent.TrackUnmuted,
    RoomEvent.ParticipantPermissionsChanged, RoomEvent.Reconnected]) on(room, e, renderControls);
  on(room, RoomEvent.MediaDevicesChanged, refreshDevices);
  on(room, RoomEvent.ActiveDeviceChanged, refreshDevices);
  on(room, RoomEvent.Reconnecting, () => status("reconnecting…"));
  on(room, RoomEvent.Reconnected, renderStatus);
  on(room, RoomEvent.Disconnected, (reason) => {
    off.forEach((f) => f());
    if (app.room === room) left(`disconnected${reason !== undefined ? ` (${LK.DisconnectReason?.[reason] ?? reason})` : ""}`);
  });
  const stateOff = [
    call.state.on("participants", ({ state }) => { if (app.call === call) renderParticipants(state.participants); }),
    call.state.on("members", ({ state }) => { if (app.call === call) renderParticipants(state.participants); }),
    call.state.on("backstage", () => { if (app.call === call) renderStatus(); }),
  ];
  off.push(...stateOff);
  // What arrived while call.join() connected, before these listeners.
  renderParticipants(call.state.participants);
  for (const p of room.remoteParticipants.values()) {
    for (const pub of p.trackPublications.values()) if (pub.track) attachRemote(pub.track, pub, p);
  }
  for (const pub of room.localParticipant.trackPublications.values()) attachLocal(pub);
}

function attachRemote(track, pub, participant) {
  const el = track.attach();
  el.dataset.identity = participant.identity;
  if (track.kind !== Track.Kind.Video) return $("audio").append(el);
  const screen = pub.source === Track.Source.ScreenShare;
  const t = tileFor(`${participant.identity}|${screen ? "screen" : "camera"}`, screen ? `${participant.name || participant.identity}'s screen` : (participant.name || participant.identity));
  t.media.replaceChildren(el);
}

function attachLocal(pub) {
  const track = pub.track;
  if (!track || track.kind !== Track.Kind.Video) return;
  const me = app.room.localParticipant;
  const screen = pub.source === Track.Source.ScreenShare;
  const t = tileFor(`${me.identity}|${screen ? "screen" : "camera"}`, screen ? "your screen" : `${me.name || me.identity} (you)`, true);
  const el = track.attach();
  el.muted = true;
  t.media.replaceChildren(el);
}

/** The mic/camera/share buttons as the local participant is now. */
function renderControls() {
  const lp = app.room && app.room.localParticipant;
  const can = !!(lp && lp.permissions && lp.permissions.canPublish);
  const set = (id, on, icons, labels) => {
    const b = $(id);
    b.disabled = !can;
    b.setAttribute("aria-pressed", String(!!on));
    b.classList.toggle("off", !on);
    iconButton(b, on ? icons[0] : icons[1], on ? labels[0] : labels[1]);
  };
  set("mic", lp && lp.isMicrophoneEnabled, ["mic", "micOff"], ["Mute", "Unmute"]);
  set("cam", lp && lp.isCameraEnabled, ["cam", "camOff"], ["Stop video", "Start video"]);
  set("share", lp && lp.isScreenShareEnabled, ["screen", "screen"], ["Stop sharing", "Share"]);
  $("share").classList.toggle("off", false);
  $("share").classList.toggle("active", !!(lp && lp.isScreenShareEnabled));
  iconButton($("leave"), "leave", "Leave");
  $("mic-device").disabled = $("cam-device").disabled = !can;
}

/** Fills the device selects (labels are known once the page may use the devices). */
async function refreshDevices() {
  for (const [kind, select] of [["audioinput", $("mic-device")], ["videoinput", $("cam-device")]]) {
    let devices = [];
    try { devices = await LK.Room.getLocalDevices(kind, false); } catch { /* no permission yet */ }
    const active = (app.room && app.room.getActiveDevice(kind)) || chosen[kind];
    select.replaceChildren(...devices.map((d, i) => h("option", { value: d.deviceId }, d.label || `${kind === "audioinput" ? "Microphone" : "Camera"} ${i + 1}`)));
    if (active && devices.some((d) => d.deviceId === active)) select.value = active;
  }
}

for (const [kind, id] of [["audioinput", "mic-device"], ["videoinput", "cam-device"]]) {
  $(id).addEventListener("change", async (e) => {
    chosen[kind] = e.target.value;
    if (!app.room) return;
    try { await app.room.switchActiveDevice(kind, chosen[kind]); } catch (err) { toast(`device: ${why(err)}`, "error"); }
  });
}

/** A control's click: runs `fn`, shows its error, redraws the controls. */
const control = (fn) => async (e) => {
  const b = e.currentTarget;
  b.disabled = true;
  try { await fn(); } catch (err) { toast(why(err), "error"); }
  b.disabled = false;
  renderControls();
};
$("mic").addEventListener("click", control(() => {
  const lp = app.room.localParticipant;
  return lp.setMicrophoneEnabled(!lp.isMicrophoneEnabled, chosen.audioinput ? { deviceId: chosen.audioinput } : undefined);
}));
$("cam").addEventListener("click", control(() => {
  const lp = app.room.localParticipant;
  return lp.setCameraEnabled(!lp.isCameraEnabled, chosen.videoinput ? { deviceId: chosen.videoinput } : undefined);
}));
$("share").addEventListener("click", control(() => {
  const lp = app.room.localParticipant;
  return lp.setScreenShareEnabled(!lp.isScreenShareEnabled, { audio: true });
}));
$("leave").addEventListener("click", () => leave());

// ---- hooks for tests and the curious --------------------------------------

// What the remote decoders did, per track.
window.onairStats = async function () {
  const out = [];
  const room = lastRoom;
  if (!room) return out;
  for (const p of room.remoteParticipants.values()) {
    for (const pub of p.trackPublications.values()) {
      if (!pub.track || !pub.track.receiver) continue;
      const stats = await pub.track.receiver.getStats();
      stats.forEach((s) => {
        if (s.type === "inbound-rtp") {
          const codec = s.codecId && stats.get(s.codecId);
          out.push({ identity: p.identity, kind: s.kind, mimeType: pub.mimeType, codec: codec && codec.mimeType,
            framesDecoded: s.framesDecoded || 0,
            frameWidth: s.frameWidth || 0, packetsReceived: s.packetsReceived || 0,
            totalSamplesReceived: s.totalSamplesReceived || 0 });
        }
      });
    }
  }
  return out;
};

// ---- start ---------------------------------------------------------------

$("user").value = params.get("user") || "guest-" + Math.random().toString(36).slice(2, 7);
if (params.get("call")) $("call").value = params.get("call");
if (params.get("mode")) $("mode").value = params.get("mode");
$("me").textContent = $("user").value;
$("join").addEventListener("submit", (e) => { e.preventDefault(); join(); });
// A new name is a new user: their own events socket (not while in a call).
$("user").addEventListener("change", () => {
  if (!app.room) signIn($("user").value.trim()).catch((e) => status(`error: ${why(e)}`));
});
initSocial(app, { listen: params.get("listen") === "1" });
initHost(app);
renderControls();
showCall(false);

const ready = signIn($("user").value.trim()).catch((e) => {
  window.onairError = String(e);
  status(`events socket: ${why(e)}`);
});
if (params.get("autojoin") === "1") ready.then(join);
