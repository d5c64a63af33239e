// Chromium on OnAir's own TLS: the demo page over https://, livekit-client
// over wss://, two participants decoding each other's video. Chromium
// trusts the test certificate's key (--ignore-certificate-errors-spki-list),
// not every certificate. Usage: node tls.mjs HTTPS_BASE_URL SPKI_SHA256_BASE64
import { scenario, joinDemo, until, stats, check } from "./lib.mjs";

const [base, spki] = process.argv.slice(2);
check(base.startsWith("https://"), `not an https base: ${base}`);
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
}, [`--ignore-certificate-errors-spki-list=${spki}`]);
