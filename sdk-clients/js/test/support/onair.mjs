// A real `onair dev` for the tests: started on free loopback ports with a
// fresh data dir, its URL read from the banner (which is never printed: it
// holds the API secret), tokens minted with its dev key, stopped at the end.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir, homedir } from "node:os";
import path from "node:path";

/** What a run ended early (a signal, a crash) must not leave behind. */
const leftovers = new Set();
process.once("exit", () => {
  for (const undo of leftovers) {
    try { undo(); } catch { /* best effort: the process is ending */ }
  }
});
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => process.exit(1));

/** Runs `undo` (synchronous) if the process exits first; returns what forgets it. */
export function atExit(undo) {
  leftovers.add(undo);
  return () => leftovers.delete(undo);
}

/** The binary: $ONAIR_BIN, else cargo's debug build. */
export function onairBin() {
  const target = process.env.CARGO_TARGET_DIR || path.join(homedir(), ".cache/onair/target");
  const bin = process.env.ONAIR_BIN || path.join(target, "debug/onair");
  if (!existsSync(bin)) throw new Error(`no onair binary at ${bin} (set ONAIR_BIN)`);
  return bin;
}

/** Starts `onair dev`; resolves with `{url, dataDir, userToken, serverToken, stop}`. */
export async function startOnair() {
  const bin = onairBin();
  const dataDir = mkdtempSync(path.join(tmpdir(), "onair-sdk-js-"));
  const args = ["dev", "--listen", "127.0.0.1:0", "--rtc-udp", "127.0.0.1:0", "--rtmp-listen", "127.0.0.1:0", "--data-dir", dataDir];
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "info,sqlx=warn" } });
  const forget = atExit(() => { child.kill("SIGKILL"); rmSync(dataDir, { recursive: true, force: true }); });
  const log = [];
  child.stderr.on("data", (d) => { log.push(String(d)); if (log.length > 400) log.shift(); });
  const url = await new Promise((resolve, reject) => {
    let banner = "";
    const timer = setTimeout(() => reject(new Error(`onair dev did not start in 30 s:\n${log.join("")}`)), 30_000);
    child.stdout.on("data", (d) => {
      banner += String(d);
      const http = banner.match(/HTTP:\s+(http:\/\/\S+)/);
      if (http && banner.includes("Data dir:")) { clearTimeout(timer); resolve(http[1]); }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`onair dev exited (${code}):\n${log.join("")}`)); });
  });
  child.stdout.resume();
  const mint = (...a) => execFileSync(bin, ["token", ...a, "--data-dir", dataDir], { encoding: "utf8" }).trim();
  return {
    url,
    dataDir,
    /** A user token for `user` (`ttl` e.g. `1h`, `2s`). */
    userToken: (user, ttl = "1h") => mint("user", "--user", user, "--name", user, "--ttl", ttl),
    serverToken: () => mint("server"),
    /** The server's recent log lines (for failure messages). */
    log: () => log.join(""),
    async stop() {
      await stopped(child);
      rmSync(dataDir, { recursive: true, force: true });
      forget();
    },
  };
}

/** Stops `child` with `signal` (SIGKILL if it lingers 10 s); resolves once it exited. */
export async function stopped(child, signal = "SIGTERM") {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** `api(method, path, body)` on `/v1` with `token`; the JSON answer, throwing on errors. */
export function api(base, token) {
  return async (method, p, body) => {
    const res = await fetch(`${base}/v1${p}`, {
      method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : {};
  };
}

/** Polls `fn` every 100 ms until it returns a truthy value or `ms` pass. */
export async function until(what, ms, fn) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
