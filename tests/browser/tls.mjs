// Chromium on OnAir's own TLS: the demo page over https://, livekit-client
// over wss://, two participants decoding each other's video. Then two more,
// forced to relay and offered only the turns: URL of the join, decode each
// other through OnAir's TURN over TLS. Chromium trusts the test
// certificate's key (--ignore-certificate-errors-spki-list), not every
// certificate. Usage: node tls.mjs HTTPS_BASE_URL SPKI_SHA256_BASE64
import { scenario, joinDemo, until, stats, check, receivingCandidates } from "./lib.mjs";

const [base, spki] = process.argv.slice(2);
check(base.startsWith("https://"), `not an https base: ${base}`);

/** Keeps only `turns:` URLs in every peer connection's ICE servers. */
function onlyTurns() {
  const Native = window.RTCPeerConnection;
  const keep = (config = {}) => ({
    ...config,
    iceServers: (config.iceServers || [])
      .map((s) => ({ ...s, urls: [].concat(s.urls).filter((u) => u.startsWith("turns:")) }))
      .filter((s) => s.urls.length > 0),
  });
  window.RTCPeerConnection = class extends Native {
    constructor(config, ...rest) { super(keep(config), ...rest); }
    setConfiguration(config) { return super.setConfiguration(keep(config)); }
  };
}

await scenario(async (browser) => {
  const call = `default:tls-${Date.now()}`;
  const alice = await joinDemo(browser, base, call, "alice");
  const bob = await joinDemo(browser, base, call, "bob");
  for (const [page, name, other] of [[alice, "alice", "bob"], [bob, "bob", "alice"]]) {
    const video = await until(`${name} decoding ${other}'s video over wss`, 30000, async () =>
      (await stats(page)).find((x) => x.kind === "video" && x.identity === other && x.framesDecoded > 10));
    console.log(`${name}: ${other}'s video framesDecoded=${video.framesDecoded} ${video.frameWidth}px`);
  }
  const secure = await alice.evaluate(() => ({ context: window.isSecureContext, url: location.href }));
  check(secure.context, `the page is not a secure context: ${JSON.stringify(secure)}`);
  console.log(`secure context: ${secure.url}`);
  await alice.context().close();
  await bob.context().close();

  const relayed = `default:turns-${Date.now()}`;
  const carol = await joinDemo(browser, base, relayed, "carol", "&relay=1", onlyTurns);
  const dave = await joinDemo(browser, base, relayed, "dave", "&relay=1", onlyTurns);
  for (const [page, name, other] of [[carol, "carol", "dave"], [dave, "dave", "carol"]]) {
    const video = await until(`${name} decoding ${other}'s video through TURN over TLS`, 40000, async () =>
      (await stats(page)).find((x) => x.kind === "video" && x.identity === other && x.framesDecoded > 10));
    const used = await receivingCandidates(page);
    check(used.length > 0 && used.every((u) => u === "relay/tls"), `${name} receives over ${used}, not only relay/tls`);
    console.log(`${name}: ${other}'s video framesDecoded=${video.framesDecoded} over ${used} candidates`);
  }
}, [`--ignore-certificate-errors-spki-list=${spki}`]);
