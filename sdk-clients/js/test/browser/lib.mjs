// Shared helpers of the browser scenarios: Debian's Chromium through
// playwright-core (never a downloaded browser) with fake camera and mic,
// and pages at the API's own origin (OnAir sends no CORS headers, so a page
// elsewhere could not call it): the page opens a plain route of the server,
// then gets the built UMD bundle as a <script> (window.OnAir) and helpers.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const bundle = path.join(here, "../../dist/onair-client.umd.js");
const helpers = path.join(here, "helpers.js");

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
  "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
];

/** Debian's Chromium (or $CHROMIUM). */
export function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: FLAGS });
}

/**
 * A page at `origin` with the bundle and helpers loaded and a client of
 * `token` connected to `baseUrl` (default: the page's origin).
 */
export async function openPage(browser, origin, token, name, baseUrl = origin) {
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  const page = await context.newPage();
  page.on("console", (m) => {
    // livekit-client probes /rtc/v1 first (OnAir answers /rtc): that 404 is expected.
    if (m.type() === "error" && !/\/rtc\/v1|Failed to load resource/.test(m.text())) console.error(`  [${name}] ${redact(m.text())}`);
  });
  page.on("pageerror", (e) => console.error(`  [${name}] page error: ${redact(e.message)}`));
  await page.goto(`${origin}/healthz`);
  await page.setContent(`<!doctype html><title>${name}</title><link rel="icon" href="data:,"><div id="player"></div>`);
  await page.addScriptTag({ path: bundle });
  await page.addScriptTag({ path: helpers });
  await page.evaluate(([b, t]) => window.setup(b, t), [baseUrl, token]);
  return page;
}

/** `text` without tokens (JWTs, `access_token=` values): test logs hold no secrets. */
export function redact(text) {
  return text.replace(/eyJ[\w-]+\.[\w-]+\.?[\w-]*/g, "[token]").replace(/access_token=[^&\s'"]+/g, "access_token=[token]");
}

/** Polls `fn` every 250 ms until it returns a truthy value or `ms` pass. */
export async function until(what, ms, fn) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Throws `message` unless `cond`. */
export function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** A call id unique to this run. */
export const uniqueId = (name) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;
