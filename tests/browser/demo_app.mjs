// The demo app (web/demo, on @onair/client) used as people use it, by
// clicking: alice and bob join a call and see each other in the
// participant list; a chat message each way arrives (as text: markup in it
// stays text); a reaction arrives; alice's mute shows on bob's list; the
// fake microphone's beeps light a speaking indicator; alice (the host)
// records and the control and bob's REC badge follow; alice rings carol,
// whose incoming-call dialog accepts into the call, and dave, who declines.
// Then a livestream: the host goes live from the control (the viewer's
// badge and media follow), starts HLS (the playlist URL shows) and pushes
// RTMP into another call's ingest (the push shows live, the other call gets
// the stream). Screenshots at 1280x800 and 390x844 go to $OUT_DIR.
// Usage: node demo_app.mjs BASE_URL SERVER_TOKEN
import path from "node:path";
import { scenario, joinDemo, until, stats, check, apiClient, logErrors } from "./lib.mjs";

const [base, server] = process.argv.slice(2);
const api = apiClient(base, server);
const outDir = process.env.OUT_DIR || ".";

const connected = (page) => page.evaluate(() => window.onairRoom?.state === "connected");
/** The participant list as shown: identity, mic state, speaking. */
const people = (page) => page.evaluate(() => [...document.querySelectorAll("#people li")].map((li) =>
  ({ identity: li.dataset.identity, mic: li.dataset.mic, speaking: li.dataset.speaking === "1" })));
/** The chat log as shown. */
const chatLog = (page) => page.evaluate(() => [...document.querySelectorAll("#chat-log li")].map((li) =>
  ({ kind: li.className.split(" ")[0], from: li.dataset.from, text: li.querySelector(".text").textContent })));
const text = (page, sel) => page.evaluate((sel) => document.querySelector(sel)?.textContent ?? null, sel);
const visible = (page, sel) => page.evaluate((sel) => {
  const el = document.querySelector(sel);
  return !!el && !el.closest("[hidden]") && el.getClientRects().length > 0;
}, sel);
const decoding = async (page, other) =>
  (await stats(page)).find((x) => x.kind === "video" && x.identity === other && x.framesDecoded > 5);

/** A page of `user` in the lobby, its events socket open (rings reach it). */
async function online(browser, user) {
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  const page = await context.newPage();
  logErrors(page, user);
  await page.goto(`${base}/?user=${user}`);
  await until(`${user} online`, 10000, () => page.evaluate(() => document.getElementById("online").classList.contains("on")));
  return page;
}

await scenario(async (browser) => {
  const id = `app-${Date.now()}`;
  const call = `default:${id}`;
  const alice = await joinDemo(browser, base, call, "alice");
  await until("alice connected", 20000, () => connected(alice));
  const bob = await joinDemo(browser, base, call, "bob");
  await until("bob connected", 20000, () => connected(bob));
  for (const [page, name, other] of [[alice, "alice", "bob"], [bob, "bob", "alice"]]) {
    await until(`${name} listing ${other}`, 10000, async () => (await people(page)).some((p) => p.identity === other));
    await until(`${name} decoding ${other}`, 30000, () => decoding(page, other));
  }
  console.log(`people: alice lists ${(await people(alice)).map((p) => p.identity).join(", ")}; both decode each other's camera`);

  // Chat over data messages, typed and sent with the form; markup stays text.
  const hello = "hello <b>bob</b> & all";
  await alice.fill("#chat-input", hello);
  await alice.click("#chat-send");
  const got = await until("bob seeing alice's message", 10000, async () =>
    (await chatLog(bob)).find((m) => m.kind === "msg" && m.text === hello));
  check(got.from === "alice", `message from ${got.from}`);
  check(await bob.evaluate(() => document.querySelector("#chat-log b") === null), "chat markup was rendered as HTML");
  await bob.fill("#chat-input", "hi alice");
  await bob.press("#chat-input", "Enter");
  await until("alice seeing bob's reply", 10000, async () => (await chatLog(alice)).some((m) => m.from === "bob" && m.text === "hi alice"));
  check((await alice.inputValue("#chat-input")) === "", "the chat input is cleared after sending");
  console.log(`chat: bob got ${JSON.stringify(got.text)} from alice (as text), alice got bob's reply`);

  // A reaction (call.sendReaction → data topic onair.reaction) reaches the other side.
  await bob.click('#reactions button[data-reaction="celebrate"]');
  const reaction = await until("alice seeing bob's reaction", 10000, async () =>
    (await chatLog(alice)).find((m) => m.kind === "reaction" && m.from === "bob"));
  check(reaction.text.includes("🎉"), `reaction shown as ${reaction.text}`);
  console.log(`reaction: alice saw bob ${reaction.text}`);

  // Mute from the control bar: bob's list shows alice muted, then unmuted.
  const aliceMic = async () => (await people(bob)).find((p) => p.identity === "alice")?.mic;
  await alice.click("#mic");
  await until("bob's list showing alice muted", 10000, async () => (await aliceMic()) === "muted");
  check(await alice.getAttribute("#mic", "aria-pressed") === "false", "alice's mic button shows muted");
  await alice.click("#mic");
  await until("bob's list showing alice unmuted", 10000, async () => (await aliceMic()) === "on");
  console.log("mute: alice's mic button muted and unmuted her; bob's list followed");

  // Screen share from the control bar: bob gets a screen tile and decodes it; it goes when stopped.
  const screenTile = () => bob.evaluate(() => [...document.querySelectorAll("#tiles .tile.screen .name")].map((n) => n.textContent));
  await alice.click("#share");
  await until("bob's screen tile for alice", 15000, async () => (await screenTile()).includes("alice's screen"));
  const videos = await until("bob decoding alice's camera and screen", 20000, async () => {
    const v = (await stats(bob)).filter((x) => x.kind === "video" && x.identity === "alice" && x.framesDecoded > 5);
    return v.length === 2 ? v : null;
  });
  check(await alice.getAttribute("#share", "aria-pressed") === "true", "alice's share button shows sharing");
  await alice.click("#share");
  await until("bob's screen tile gone", 15000, async () => (await screenTile()).length === 0);
  console.log(`screen share: bob got alice's screen tile and decoded her screen (${videos.map((v) => v.frameWidth).join(" and ")} px videos), gone after stop`);

  // Device choice: another (fake) microphone from the select becomes the active one.
  const mics = await alice.evaluate(() => [...document.querySelectorAll("#mic-device option")].map((o) => o.value));
  if (mics.length > 1) {
    const other = mics.find((m) => m !== mics[0] && m !== "default") || mics[1];
    await alice.selectOption("#mic-device", other);
    await until("alice's active microphone switched", 10000, () =>
      alice.evaluate((id) => window.onairRoom.getActiveDevice("audioinput") === id, other));
    const packets = async () => (await stats(bob)).filter((x) => x.kind === "audio" && x.identity === "alice").reduce((n, x) => n + x.packetsReceived, 0);
    const before = await packets();
    await until("bob still receiving alice's audio", 10000, async () => (await packets()) > before + 20);
    console.log(`devices: ${mics.length} microphones listed; switching to another kept alice's audio flowing to bob`);
  } else {
    console.log(`devices: ${mics.length} microphone listed (nothing to switch to)`);
  }

  // Speaking: Chromium's fake microphone beeps; the list lights up.
  const spoke = await until("someone shown speaking on bob's list", 20000, async () =>
    (await people(bob)).find((p) => p.speaking));
  console.log(`speaking: bob's list showed ${spoke.identity} speaking`);

  // Host controls: alice created the call (host), bob is a member.
  check(await visible(alice, "#host"), "alice has host controls");
  check(!(await visible(bob, "#host")), "bob has no host controls");
  await alice.click("#rec-toggle");
  const recState = await until("alice's recording control active", 30000, async () =>
    ((await text(alice, "#rec-state")) === "recording" ? "recording" : null));
  await until("bob's REC badge", 10000, () => visible(bob, "#badge-rec"));
  await new Promise((r) => setTimeout(r, 3000));
  await alice.click("#rec-toggle");
  await until("alice's recording control off", 30000, async () => (await text(alice, "#rec-state")) === "off");
  await until("bob's REC badge gone", 10000, async () => !(await visible(bob, "#badge-rec")));
  const link = await until("the finished recording's link", 30000, () =>
    alice.evaluate(() => document.querySelector("#rec-last a")?.href || null));
  const file = await fetch(link);
  check(file.ok, `recording link: ${file.status}`);
  console.log(`recording: control went ${recState} → off, bob's REC badge followed, link serves ${(await file.arrayBuffer()).byteLength} bytes`);

  // Ringing from the app: carol accepts in her dialog and joins the call.
  const carol = await online(browser, "carol");
  await alice.fill("#ring-user", "carol");
  await alice.click("#ring-go");
  await until("carol's incoming-call dialog", 10000, () => carol.evaluate(() => document.getElementById("incoming").open));
  const title = await text(carol, "#incoming-title");
  check(title === "alice is calling", `dialog says ${title}`);
  await carol.click("#ring-accept");
  await until("carol in the call", 20000, () => connected(carol));
  check((await carol.inputValue("#call")) === call, "carol joined the call she was rung into");
  await until("alice listing carol", 10000, async () => (await people(alice)).some((p) => p.identity === "carol"));
  await until("carol decoding alice", 30000, () => decoding(carol, "alice"));
  await until("alice told carol accepted", 10000, async () => (await text(alice, "#ring-out-text")) === "carol accepted");
  console.log(`ring: carol's dialog said "${title}", accept joined her to ${call}; she decodes alice; alice saw "carol accepted"`);

  // And dave declines.
  const dave = await online(browser, "dave");
  await alice.fill("#ring-user", "dave");
  await alice.click("#ring-go");
  await until("dave's dialog", 10000, () => dave.evaluate(() => document.getElementById("incoming").open));
  await dave.click("#ring-reject");
  await until("alice told dave declined", 10000, async () => (await text(alice, "#ring-out-text")) === "dave declined");
  check(!(await dave.evaluate(() => document.getElementById("incoming").open)), "dave's dialog closed");
  console.log("ring: dave declined in his dialog; alice saw \"dave declined\"");
  await dave.context().close();

  // Screenshots of alice's page with three people, the chat and the host controls.
  for (const [w, h, name] of [[1280, 800, "demo-desktop.png"], [390, 844, "demo-phone.png"]]) {
    await alice.setViewportSize({ width: w, height: h });
    // As a person would look at it: nothing focused, panels at their top.
    await alice.evaluate(() => { document.activeElement?.blur(); document.querySelector(".side").scrollTop = 0; window.scrollTo(0, 0); });
    await new Promise((r) => setTimeout(r, 1500));
    await alice.screenshot({ path: path.join(outDir, name) });
    console.log(`screenshot: ${name} at ${w}x${h}`);
  }
  const overflow = await alice.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the phone layout scrolls sideways by ${overflow} px`);
  await alice.setViewportSize({ width: 1280, height: 800 });
  for (const page of [bob, carol]) await page.context().close();

  // A livestream: alice switches call in the lobby form and hosts it (backstage).
  const show = `livestream:show-${Date.now()}`;
  await alice.click("#leave");
  await until("alice back in the lobby", 10000, () => visible(alice, "#lobby"));
  await alice.fill("#call", show);
  await alice.selectOption("#mode", "publish");
  await alice.click("#go");
  await until("alice hosting the show", 20000, () => connected(alice));
  await until("alice's live control in backstage", 10000, async () => (await text(alice, "#live-state")) === "backstage");
  const viewer = await joinDemo(browser, base, show, "vic", "&mode=watch");
  // The show is in backstage and viewers may not join ahead: the page waits for it.
  await until("the viewer waiting", 20000, async () => (await text(viewer, "#status")).includes("waiting for the host"));
  await until("the viewer's BACKSTAGE badge", 10000, async () => (await text(viewer, "#badge-live")) === "BACKSTAGE");
  await alice.click("#live-toggle");
  await until("alice's control live", 10000, async () => (await text(alice, "#live-state")) === "live" && (await text(alice, "#live-toggle")) === "Stop live");
  await until("the viewer's LIVE badge", 10000, async () => (await text(viewer, "#badge-live")) === "LIVE");
  await until("the viewer decoding the host", 30000, () => decoding(viewer, "alice"));
  await until("the viewer's status no longer waiting", 10000, async () => !(await text(viewer, "#status")).includes("waiting"));
  console.log("live: the viewer waited in backstage; go live from the control; its badge went BACKSTAGE → LIVE, it joined and decodes the host");

  // HLS from the control: the playlist URL shows, copyable.
  await alice.click("#hls-toggle");
  const playlist = await until("the playlist URL in the HLS control", 60000, () =>
    alice.evaluate(() => document.querySelector("#hls-url .copyfield")?.dataset.value || null));
  check((await text(alice, "#hls-state")) === "live", `HLS state ${await text(alice, "#hls-state")}`);
  const m3u8 = await fetch(playlist);
  check(m3u8.ok && (await m3u8.text()).startsWith("#EXTM3U"), `playlist: ${m3u8.status}`);
  await alice.click("#hls-toggle");
  await until("HLS off", 30000, async () => (await text(alice, "#hls-state")) === "off" && !(await visible(alice, "#hls-url")));
  // (The URL carries a signed token: only its file name is printed.)
  console.log(`HLS: the control showed the playlist URL (…/${new URL(playlist).pathname.split("/").pop()}, serves a playlist), then off`);

  // RTMP push into another call's RTMP ingest, from the form.
  const sink = `sink-${Date.now()}`;
  const address = (await api("POST", `/calls/default/${sink}`, {})).call.ingress.rtmp.address;
  const key = (await (await fetch(`${base}/dev/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: "relay" }) })).json()).token;
  await alice.fill("#rtmp-name", "relay");
  await alice.fill("#rtmp-url", address);
  await alice.fill("#rtmp-key", key);
  await alice.click("#rtmp-start");
  await until("the push live in the RTMP control", 60000, () =>
    alice.evaluate(() => document.querySelector('#rtmp-list li[data-name="relay"]')?.dataset.state === "live"));
  check((await alice.inputValue("#rtmp-key")) === "", "the stream key was left in the form after starting");
  await until("the push arriving in the other call", 30000, async () =>
    (await api("GET", `/calls/default/${sink}/participants`)).participants.some((p) => p.user_id === "relay:ingest"));
  await alice.click('#rtmp-list li[data-name="relay"] button');
  await until("the push gone from the control", 30000, () =>
    alice.evaluate(() => !document.querySelector('#rtmp-list li[data-name="relay"]')));
  console.log(`RTMP: push "relay" to ${address} went live (the other call got relay:ingest), then stopped`);

  await alice.click("#live-toggle");
  await until("back in backstage", 10000, async () => (await text(alice, "#live-state")) === "backstage" && (await text(viewer, "#badge-live")) === "BACKSTAGE");
  console.log("live: stop live from the control; both pages show BACKSTAGE");
});
