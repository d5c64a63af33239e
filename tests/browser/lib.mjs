// Shared helpers of the browser tests: Debian's Chromium driven by
// playwright-core (never a downloaded browser), with fake camera and mic.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../web/package.json"));
const { chromium } = require("playwright-core");

export const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
  "--allow-loopback-in-peer-connection",
];

async function launch(flags = []) {
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: [...FLAGS, ...flags] });
}

/** Opens the demo page for `user` in a new context and joins `call` (`type:id`). */
export async function joinDemo(browser, base, call, user, extra = "", init = null) {
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  logErrors(page, user);
  await page.goto(`${base}/?call=${encodeURIComponent(call)}&user=${user}&autojoin=1${extra}`);
  return page;
}

/** Prints the page's console errors, without the tokens in URLs
 *  (livekit-client logs a failed connection's URL). */
export function logErrors(page, user) {
  const redact = (text) => text.replace(/access_token=[^&'"\s]+/g, "access_token=…");
  page.on("console", (m) => { if (m.type() === "error") console.error(`[${user}] ${redact(m.text())}`); });
}

/** Polls `fn` every `every` ms until it returns a truthy value or `ms` pass. */
export async function until(what, ms, fn, every = 250) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** `api(method, path, body)` on the REST API at `base` with `token`; throws on errors. */
export function apiClient(base, token) {
  return async (method, path, body) => {
    const res = await fetch(`${base}/v1${path}`, {
      method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
}

export const stats = (page) => page.evaluate(() => window.onairStats());

/** The local candidates the page's receiving transports use, as
 *  `type/relayProtocol` (`host/-`, `relay/udp`, `relay/tls`…). */
export const receivingCandidates = (page) => page.evaluate(async () => {
  const found = new Set();
  for (const p of window.onairRoom.remoteParticipants.values()) {
    for (const pub of p.trackPublications.values()) {
      if (!pub.track || !pub.track.receiver) continue;
      const report = await pub.track.receiver.getStats();
      report.forEach((s) => {
        if (s.type !== "candidate-pair" || !s.nominated || s.state !== "succeeded") return;
        const local = report.get(s.localCandidateId);
        if (local) found.add(`${local.candidateType}/${local.relayProtocol || "-"}`);
      });
    }
  }
  return [...found];
});

export function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** Runs `body(browser)` in a fresh Chromium (with extra `flags`); prints
 *  "scenario passed", or the error with exit code 1. */
export async function scenario(body, flags = []) {
  const browser = await launch(flags);
  try {
    await body(browser);
    console.log("scenario passed");
  } catch (e) {
    console.error(e.stack || String(e));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
