// Starts a real `onair dev` for the tests: free loopback ports, a temp data
// dir, the dev API key read from the data dir; stopped and removed after.
// The banner (which prints the secret) is parsed, never echoed.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

/** The onair binary: $ONAIR_BIN, else the workspace's debug build. */
export function onairBin() {
  if (process.env.ONAIR_BIN) return process.env.ONAIR_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(homedir(), ".cache", "onair", "target");
  return join(target, "debug", "onair");
}

/** The environment without ONAIR_* (an outer config must not leak into the test server). */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ONAIR_")) env[k] = v;
  return env;
}

/** `key = "…"` lines of the dev key file. */
function readKeys(dataDir) {
  const text = readFileSync(join(dataDir, "keys.toml"), "utf8");
  const field = (name) => {
    const m = text.match(new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, "m"));
    if (!m) throw new Error(`keys.toml has no ${name}`);
    return m[1];
  };
  return { apiKey: field("key"), apiSecret: field("secret") };
}

/**
 * Starts `onair dev` and resolves to `{baseUrl, apiKey, apiSecret, dataDir,
 * token(args), stop()}` once its banner says it is ready.
 */
export async function startOnAir() {
  const bin = onairBin();
  if (!existsSync(bin)) throw new Error(`no onair binary at ${bin}: build it or set ONAIR_BIN`);
  const root = mkdtempSync(join(tmpdir(), "onair-sdk-node-"));
  const dataDir = join(root, "data");
  const child = spawn(
    bin,
    [
      "dev",
      "--listen", "127.0.0.1:0",
      "--rtc-udp", "127.0.0.1:0",
      "--rtmp-listen", "127.0.0.1:0",
      "--data-dir", dataDir,
      "--web-dir", join(root, "web"),
      "--allow-private-targets",
      "--min-free-space", String(64 * 1024 * 1024),
    ],
    { env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stderr.on("data", (d) => {
    log = (log + d.toString()).slice(-8000);
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const baseUrl = await new Promise((resolve, reject) => {
    let out = "";
    let url;
    let settled = false;
    const timer = setTimeout(() => fail(new Error("onair dev did not print its banner within 30 s")), 30_000);
    const fail = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${err.message}\n--- onair log (tail) ---\n${log}`));
    };
    child.stdout.on("data", (d) => {
      if (settled) return;
      out += d.toString();
      for (const line of out.split("\n")) {
        const m = line.match(/^\s*HTTP:\s+(http:\/\/\S+)/);
        if (m) url = m[1];
        if (/^\s*Data dir:/.test(line) && url) {
          settled = true;
          clearTimeout(timer);
          resolve(url);
          return;
        }
      }
    });
    child.once("exit", (code) => fail(new Error(`onair dev exited early (${code})`)));
  });
  const keys = readKeys(dataDir);
  return {
    baseUrl,
    dataDir,
    ...keys,
    /** `onair token ARGS --data-dir DIR`, trimmed. */
    token(args) {
      return execFileSync(bin, ["token", ...args, "--data-dir", dataDir], { env: cleanEnv() }).toString().trim();
    },
    /** SIGTERM, SIGKILL after 15 s; the temp dir is removed. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns a truthy value (returned) or `ms` pass (throws). */
export async function eventually(fn, ms = 10_000, what = "condition") {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A call id unique to this run. */
export function uniqueId(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
