// Host controls (go live / stop, recording, HLS, RTMP pushes, end) and the
// call's badges, each drawn from call.state: the SDK keeps call.egress and
// the backstage flag current from the events socket, so every page of the
// call (not only the one that clicked) shows the same state. Between a click
// and its event a control says "starting…"/"stopping…" (`pending`).
// Also the ingest panel: where OBS (RTMP) or a WHIP client sends into the call.
import { $, h, toast, why, copyField } from "./ui.js";

const HOST_CAPS = ["update-call", "start-record-call", "stop-record-call", "start-broadcast-call", "stop-broadcast-call", "end-call"];

export function initHost(app) {
  let call = null;
  let offs = [];
  // Local "in flight" states: rec/hls/live: "starting" | "stopping"; rtmp: name → "starting" | "stopping".
  let pending = { rec: null, hls: null, live: null, rtmp: new Map() };

  const hostError = (text) => {
    $("host-error").hidden = !text;
    $("host-error").textContent = text || "";
  };

  /** Runs a host action from a button: marks it pending, shows refusals; whether it was accepted. */
  async function act(what, key, fn) {
    hostError("");
    if (key) pending[key] = what;
    render();
    let ok = true;
    try {
      await fn();
    } catch (e) {
      ok = false;
      if (key) pending[key] = null;
      hostError(`${what}: ${why(e)}`);
    }
    // go_live/stop_live answer with the new call; the others wait for their event.
    if (key === "live") pending.live = null;
    render();
    return ok;
  }

  function render() {
    if (!call) return;
    const s = call.state;
    const view = s.call;
    const caps = s.ownCapabilities;
    const has = (c) => caps.includes(c);
    const egress = view ? view.egress : { recording: null, hls: null, rtmps: [] };

    // Badges, for everyone in the call.
    const backstageOn = !!(view && view.settings && view.settings.backstage && view.settings.backstage.enabled);
    const badge = $("badge-live");
    badge.hidden = !view || (!backstageOn && !s.backstage);
    badge.textContent = view && view.ended_at ? "ENDED" : s.backstage ? "BACKSTAGE" : "LIVE";
    badge.classList.toggle("live", !!view && !s.backstage && !view.ended_at);
    $("badge-rec").hidden = !(egress.recording && egress.recording.state === "active");
    $("badge-hls").hidden = !(egress.hls && egress.hls.state === "active");

    const isHost = HOST_CAPS.some(has);
    $("host").hidden = !isHost;
    if (!isHost) return;

    // Live / backstage (only calls whose type has a backstage).
    const ended = !!(view && view.ended_at);
    $("live-toggle").closest(".ctl").hidden = !backstageOn && !s.backstage;
    setState("live-state", pending.live || (ended ? "ended" : s.backstage ? "backstage" : "live"));
    const liveBtn = $("live-toggle");
    liveBtn.textContent = s.backstage ? "Go live" : "Stop live";
    liveBtn.disabled = !has("update-call") || !!pending.live || ended;
    liveBtn.classList.toggle("primary", s.backstage);

    // Recording: the running job, from state; `starting`/`stopping` until its event.
    const rec = egress.recording;
    if (pending.rec === "starting" && rec && rec.state === "active") pending.rec = null;
    if (pending.rec === "stopping" && !rec) pending.rec = null;
    const recState = pending.rec || (rec ? (rec.state === "active" ? "recording" : rec.state) : "off");
    setState("rec-state", recState);
    const recBtn = $("rec-toggle");
    const recording = !!rec || pending.rec === "starting";
    recBtn.textContent = recording ? "Stop recording" : "Record";
    recBtn.disabled = !!pending.rec || !has(recording ? "stop-record-call" : "start-record-call");

    // HLS: the playlist URL once the broadcast has one.
    const hls = egress.hls;
    if (pending.hls === "starting" && hls && hls.state === "active") pending.hls = null;
    if (pending.hls === "stopping" && !hls) pending.hls = null;
    setState("hls-state", pending.hls || (hls ? (hls.state === "active" ? "live" : hls.state) : "off"));
    const hlsOn = !!hls || pending.hls === "starting";
    const hlsBtn = $("hls-toggle");
    hlsBtn.textContent = hlsOn ? "Stop HLS" : "Start HLS";
    hlsBtn.disabled = !!pending.hls || !has(hlsOn ? "stop-broadcast-call" : "start-broadcast-call");
    const url = hls && hls.playlist_url;
    const shown = $("hls-url");
    if (shown.dataset.url !== (url || "")) {
      shown.dataset.url = url || "";
      shown.replaceChildren(...(url ? [copyField("Playlist", url)] : []));
    }
    shown.hidden = !url;

    // RTMP pushes, by name.
    for (const r of egress.rtmps) if (pending.rtmp.get(r.name) === "starting" && r.state === "active") pending.rtmp.delete(r.name);
    for (const [name, p] of pending.rtmp) if (p === "stopping" && !egress.rtmps.some((r) => r.name === name)) pending.rtmp.delete(name);
    const rows = egress.rtmps.map((r) => ({ name: r.name, state: pending.rtmp.get(r.name) || (r.state === "active" ? "live" : r.state) }));
    for (const [name, p] of pending.rtmp) if (!egress.rtmps.some((r) => r.name === name)) rows.push({ name, state: p });
    setState("rtmp-state", rows.length ? `${rows.filter((r) => r.state === "live").length} live` : "off");
    $("rtmp-list").replaceChildren(...rows.map((r) => {
      const stop = h("button", { type: "button", class: "small", disabled: r.state === "stopping" || !has("stop-broadcast-call") }, "Stop");
      stop.addEventListener("click", async () => {
        pending.rtmp.set(r.name, "stopping");
        const ok = await act("stop RTMP push", null, () => call.stopRTMPBroadcast(r.name));
        // Refused, or its stopped event came first: nothing left to wait for.
        if (!ok || !pendingKnown(r.name)) pending.rtmp.delete(r.name);
        render();
      });
      return h("li", { dataset: { name: r.name, state: r.state } }, h("span", { class: "rname" }, r.name), h("span", { class: `state s-${r.state}` }, r.state), stop);
    }));
    $("rtmp-start").disabled = !has("start-broadcast-call");
    $("end-call").disabled = !has("end-call") || ended;
  }

  /** Whether a push of `name` is still in the call's state (so its pending mark clears by event). */
  const pendingKnown = (name) => !!call && !!call.state.call && call.state.call.egress.rtmps.some((r) => r.name === name);

  function setState(id, text) {
    const el = $(id);
    el.textContent = text;
    el.className = `state s-${text.replace(/[^a-z]+/g, "-")}`;
  }

  /** Where OBS or a WHIP client sends into this call, with this user's token as the key. */
  function renderIngest() {
    const view = call && call.state.call;
    const caps = call ? call.state.ownCapabilities : [];
    const rtmp = view && view.ingress && view.ingress.rtmp;
    const whip = view && view.ingress && view.ingress.whip;
    const may = caps.includes("send-video") || caps.includes("send-audio");
    $("ingest-card").hidden = !(may && (rtmp || whip));
    const parts = [];
    if (rtmp) {
      parts.push(h("p", { class: "hint" }, `OBS: Settings → Stream → Custom; it joins as ${app.user}:ingest.`),
        copyField("Server", rtmp.address), copyField("Stream key", app.token, { secret: true }));
    }
    if (whip) {
      parts.push(h("p", { class: "hint" }, "WHIP (OBS 30+, GStreamer, browsers): the same token as Bearer token."),
        copyField("WHIP URL", whip.url), copyField("Bearer token", app.token, { secret: true }));
    }
    $("obs").replaceChildren(...parts);
  }

  app.on("joined", (c) => {
    offs.forEach((f) => f()); // joined again after waiting in backstage
    call = c;
    pending = { rec: null, hls: null, live: null, rtmp: new Map() };
    hostError("");
    $("rec-last").hidden = true;
    offs = [
      c.state.on("change", () => { render(); renderIngest(); }),
      c.on("call.recording_failed", (e) => { pending.rec = null; hostError(`recording failed: ${e.error || "unknown"}`); render(); }),
      c.on("call.hls_broadcasting_failed", (e) => { pending.hls = null; hostError(`HLS failed: ${e.error || "unknown"}`); render(); }),
      c.on("call.rtmp_broadcast_failed", (e) => { pending.rtmp.delete(e.name); hostError(`RTMP push ${e.name} failed: ${e.error || "unknown"}`); render(); }),
      c.on("call.recording_ready", (e) => showRecording(e)),
      c.on("call.ended", () => toast("the call ended")),
    ];
    render();
    renderIngest();
  });
  app.on("left", () => {
    offs.forEach((f) => f());
    offs = [];
    call = null;
    for (const id of ["host", "ingest-card", "badge-live", "badge-rec", "badge-hls"]) $(id).hidden = true;
  });

  /** The finished recording: its length, size and download link. */
  function showRecording(e) {
    if (typeof e.url !== "string" || !/^https?:\/\//.test(e.url)) return; // a link, never a script
    const seconds = (Number(e.duration_ms) || 0) / 1000;
    const mb = (Number(e.size) || 0) / 1e6;
    $("rec-last").replaceChildren(
      h("span", {}, `Last recording: ${seconds.toFixed(1)} s, ${mb.toFixed(1)} MB · `,
        h("a", { href: e.url, target: "_blank", rel: "noopener", download: "", title: String(e.filename || "") }, "download")),
      copyField("Link", e.url));
    $("rec-last").hidden = false;
  }

  $("live-toggle").addEventListener("click", () => {
    const goLive = call.state.backstage;
    act(goLive ? "going live" : "stopping live", "live", () => (goLive ? call.goLive() : call.stopLive()));
  });
  $("rec-toggle").addEventListener("click", () => {
    const on = !!(call.state.call && call.state.call.egress.recording);
    act(on ? "stopping" : "starting", "rec", () => (on ? call.stopRecording() : call.startRecording()));
  });
  $("hls-toggle").addEventListener("click", () => {
    const on = !!(call.state.call && call.state.call.egress.hls);
    act(on ? "stopping" : "starting", "hls", () => (on ? call.stopHLS() : call.startHLS()));
  });
  $("rtmp-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("rtmp-name").value.trim();
    const stream_url = $("rtmp-url").value.trim();
    const stream_key = $("rtmp-key").value;
    pending.rtmp.set(name, "starting");
    const ok = await act("start RTMP push", null, () => call.startRTMPBroadcast({ name, stream_url, stream_key }));
    if (!ok) pending.rtmp.delete(name);
    else $("rtmp-key").value = ""; // the key is a secret: not left in the form
    render();
  });
  $("end-call").addEventListener("click", () => act("ending the call", null, () => call.end()));
}
