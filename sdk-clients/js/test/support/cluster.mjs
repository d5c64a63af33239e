// Several real `onair serve` nodes for the tests: a Redis, an API node and
// `sfus` SFU nodes, sharing a fresh data dir (the SQLite store) and one API
// key; tokens minted with the API node's config. Each SFU node runs in a
// network namespace of its own with its own address on a bridge this
// makes (as on separate machines; the browser, here, reaches them over the
// bridge); without root, on loopback, and it says why. Each SFU node can
// be killed (SIGKILL) alone.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { atExit, onairBin, stopped, until } from "./onair.mjs";

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

const sh = (script) => execFileSync("sh", ["-c", script], { stdio: ["ignore", "ignore", "pipe"] });

/**
 * A bridge with `10.19K.P.1/24` and `count` namespaces on it by veth pairs,
 * at `.2`, `.3`…: `{hostIp, spaces: [{name, ip}], remove}`, or `{why}`
 * when they cannot be made (not root).
 */
let made = 0;
function network(count) {
  // Names and a /24 of its own per cluster (the Rust tests use 10.200-249).
  const k = made++ % 10;
  const tag = `${process.pid}j${k}`;
  const prefix = `10.${190 + k}.${(process.pid % 250) + 1}`;
  const bridge = `oab${tag}`;
  const spaces = [];
  const remove = () => {
    for (const s of spaces) { try { sh(`ip netns del ${s.name}`); } catch { /* gone */ } }
    try { sh(`ip link del ${bridge}`); } catch { /* gone */ }
  };
  try {
    // Its ports forward at once: a node started right after must reach the rest.
    sh(`ip link add ${bridge} type bridge forward_delay 0 && ip addr add ${prefix}.1/24 dev ${bridge} && ip link set ${bridge} up`);
    for (let n = 2; n < count + 2; n++) {
      const name = `onair-${tag}-${n}`;
      const [host, inner, ip] = [`oav${tag}x${n}`, `oai${tag}x${n}`, `${prefix}.${n}`];
      spaces.push({ name, ip });
      sh(`ip netns add ${name} && ip -n ${name} link add ${inner} type veth peer name ${host} netns 1 && ` +
        `ip link set ${host} master ${bridge} && ip link set ${host} up && ` +
        `ip -n ${name} addr add ${ip}/24 dev ${inner} && ip -n ${name} link set ${inner} up && ip -n ${name} link set lo up`);
    }
  } catch (e) {
    remove();
    return { why: String(e.stderr || e.message).trim() };
  }
  return { hostIp: `${prefix}.1`, spaces, remove };
}

/** Spawns `bin args`, keeping its last log lines. */
function start(bin, args, env = {}) {
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RUST_LOG: "warn", ...env } });
  const forget = atExit(() => child.kill("SIGKILL"));
  child.once("exit", forget);
  const log = [];
  child.stderr.on("data", (d) => { log.push(String(d)); if (log.length > 200) log.shift(); });
  return { child, log };
}

/**
 * Starts the cluster (`sfuExtra`: more config for each SFU node, `apiExtra`
 * for the API node); resolves
 * with `{url, sfus: [{url, kill, term}], userToken, log, stop}`.
 */
export async function startCluster({ sfuCount = 2, sfuExtra = "", apiExtra = "" } = {}) {
  const bin = onairBin();
  const dir = mkdtempSync(path.join(tmpdir(), "onair-cluster-"));
  const net = network(sfuCount);
  const forgetSetup = atExit(() => {
    if (net.remove) net.remove();
    rmSync(dir, { recursive: true, force: true });
  });
  if (net.why) console.log(`  cluster: SFU nodes on loopback (no network namespaces: ${net.why})`);
  const hostIp = net.hostIp || "127.0.0.1";
  const redisPort = await freePort();
  const bind = net.hostIp ? ["--bind", "127.0.0.1", hostIp, "--protected-mode", "no"] : ["--bind", "127.0.0.1"];
  const redis = start("redis-server", ["--port", String(redisPort), ...bind, "--save", "", "--appendonly", "no"]);
  const config = (name, host, port, extra) => {
    const file = path.join(dir, `${name}.toml`);
    writeFileSync(file, `listen = "${host}:${port}"\nrtc_udp = "${host}:0"\nrtmp_listen = "${host}:0"\ndata_dir = "${dir}"\n` +
      `redis_url = "redis://${hostIp}:${redisPort}"\n${extra}\n[[api_keys]]\nkey = "APIcluster"\nsecret = "cluster-test-secret-cluster-test-secret"\n`);
    return file;
  };
  const nodes = [];
  const stop = async () => {
    for (const n of nodes) await stopped(n.child);
    await stopped(redis.child);
    if (net.remove) net.remove();
    rmSync(dir, { recursive: true, force: true });
    forgetSetup();
  };
  const sfus = [];
  let apiPort, apiConfig;
  try {
    const healthy = (host, port) => until(`the node on ${host}:${port}`, 30_000, async () => {
      try { return (await fetch(`http://${host}:${port}/healthz`)).ok; } catch { return false; }
    });
    apiPort = await freePort();
    // `apiExtra` (signal_proxy): clients signal through the API node's own address.
    apiConfig = config("api", "127.0.0.1", apiPort, apiExtra && `signal_url = "ws://127.0.0.1:${apiPort}"\n${apiExtra}`);
    await until("redis", 10_000, async () => {
      try { execFileSync("redis-cli", ["-p", String(redisPort), "ping"], { stdio: "ignore" }); return true; } catch { return false; }
    });
    nodes.push({ name: "api", ...start(bin, ["serve", "--config", apiConfig, "--role", "api"]) });
    await healthy("127.0.0.1", apiPort);
    for (let i = 0; i < sfuCount; i++) {
      const port = await freePort();
      const space = net.spaces && net.spaces[i];
      const host = space ? space.ip : "127.0.0.1";
      const url = `ws://${host}:${port}`;
      const file = config(`sfu${i}`, host, port, `signal_url = "${url}"\n${sfuExtra}`);
      // `ip netns exec` execs the node itself: the child is the node.
      const args = ["serve", "--config", file, "--role", "sfu"];
      const node = { name: `sfu${i}`, ...(space ? start("ip", ["netns", "exec", space.name, bin, ...args]) : start(bin, args)) };
      nodes.push(node);
      await healthy(host, port);
      // `term`: SIGTERM, the node drains (without waiting for it to exit).
      sfus.push({ url, kill: () => stopped(node.child, "SIGKILL"), term: () => node.child.kill("SIGTERM") });
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const mint = (...a) => execFileSync(bin, ["token", "--config", apiConfig, ...a], { encoding: "utf8" }).trim();
  return {
    url: `http://127.0.0.1:${apiPort}`,
    sfus,
    userToken: (user) => mint("user", "--user", user, "--name", user),
    /** The nodes' recent log lines (for failure messages). */
    log: () => nodes.map((n) => `[${n.name}]\n${n.log.join("")}`).join("\n"),
    stop,
  };
}
