// Several real `onair serve` nodes for the tests: a Redis, an API node and
// `sfus` SFU nodes on free loopback ports, sharing a fresh data dir (the
// SQLite store) and one API key; tokens minted with the API node's config.
// Each SFU node can be killed (SIGKILL) alone.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { onairBin, stopped, until } from "./onair.mjs";

/** A free loopback TCP port. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Spawns `bin args`, keeping its last log lines. */
function start(bin, args, env = {}) {
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RUST_LOG: "warn", ...env } });
  const log = [];
  child.stderr.on("data", (d) => { log.push(String(d)); if (log.length > 200) log.shift(); });
  return { child, log };
}

/**
 * Starts the cluster (`sfuExtra`: more config for each SFU node); resolves
 * with `{url, sfus: [{url, kill}], userToken, log, stop}`.
 */
export async function startCluster({ sfuCount = 2, sfuExtra = "" } = {}) {
  const bin = onairBin();
  const dir = mkdtempSync(path.join(tmpdir(), "onair-cluster-"));
  const redisPort = await freePort();
  const redis = start("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
  const config = (name, port, extra) => {
    const file = path.join(dir, `${name}.toml`);
    writeFileSync(file, `listen = "127.0.0.1:${port}"\nrtc_udp = "127.0.0.1:0"\nrtmp_listen = "127.0.0.1:0"\ndata_dir = "${dir}"\n` +
      `redis_url = "redis://127.0.0.1:${redisPort}"\n${extra}\n[[api_keys]]\nkey = "APIcluster"\nsecret = "cluster-test-secret-cluster-test-secret"\n`);
    return file;
  };
  const nodes = [];
  const healthy = (port) => until(`the node on ${port}`, 30_000, async () => {
    try { return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok; } catch { return false; }
  });
  const apiPort = await freePort();
  const apiConfig = config("api", apiPort, "");
  await until("redis", 10_000, async () => {
    try { execFileSync("redis-cli", ["-p", String(redisPort), "ping"], { stdio: "ignore" }); return true; } catch { return false; }
  });
  nodes.push({ name: "api", ...start(bin, ["serve", "--config", apiConfig, "--role", "api"]) });
  await healthy(apiPort);
  const sfus = [];
  for (let i = 0; i < sfuCount; i++) {
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}`;
    const file = config(`sfu${i}`, port, `signal_url = "${url}"\n${sfuExtra}`);
    const node = { name: `sfu${i}`, ...start(bin, ["serve", "--config", file, "--role", "sfu"]) };
    nodes.push(node);
    await healthy(port);
    sfus.push({ url, kill: () => stopped(node.child, "SIGKILL") });
  }
  const mint = (...a) => execFileSync(bin, ["token", "--config", apiConfig, ...a], { encoding: "utf8" }).trim();
  return {
    url: `http://127.0.0.1:${apiPort}`,
    sfus,
    userToken: (user) => mint("user", "--user", user, "--name", user),
    /** The nodes' recent log lines (for failure messages). */
    log: () => nodes.map((n) => `[${n.name}]\n${n.log.join("")}`).join("\n"),
    async stop() {
      for (const n of nodes) await stopped(n.child);
      await stopped(redis.child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
