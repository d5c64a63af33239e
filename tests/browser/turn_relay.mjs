// Chromium forced to relay (iceTransportPolicy "relay") through OnAir's
// own TURN server, whose credentials come with the join: two participants
// decode each other's video over relayed candidates only, and the server
// counts the allocations and the relayed bytes (/metrics).
// Usage: node turn_relay.mjs BASE_URL SERVER_TOKEN
import { scenario, joinDemo, until, stats, check, receivingCandidates } from "./lib.mjs";

const [base, token] = process.argv.slice(2);

/** The type of the local candidate each of the page's receiving transports uses. */
const candidateTypes = async (page) => [...new Set((await receivingCandidates(page)).map((c) => c.split("/")[0]))];

/** `name`'s value in the server's /metrics (summed over its series). */
async function metric(name) {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  return text.split("\n").filter((l) => l.startsWith(name) && !l.startsWith("#"))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

await scenario(async (browser) => {
  const call = `default:relay-${Date.now()}`;
  const alice = await joinDemo(browser, base, call, "alice", "&relay=1");
  const bob = await joinDemo(browser, base, call, "bob", "&relay=1");
  for (const [page, name, other] of [[alice, "alice", "bob"], [bob, "bob", "alice"]]) {
    const video = await until(`${name} decoding ${other}'s video through TURN`, 40000, async () =>
      (await stats(page)).find((x) => x.kind === "video" && x.identity === other && x.framesDecoded > 30));
    const types = await candidateTypes(page);
    check(types.length > 0 && types.every((t) => t === "relay"), `${name} receives over ${types}, not only relay`);
    console.log(`${name}: ${other}'s video framesDecoded=${video.framesDecoded} ${video.frameWidth}px over ${types} candidates`);
  }
  const allocations = await metric("onair_turn_allocations_created_total");
  const relayed = await metric("onair_turn_relayed_bytes_total");
  check(allocations >= 2, `only ${allocations} TURN allocations`);
  check(relayed > 100000, `only ${relayed} bytes relayed`);
  // What the relayed call costs the server (TURN and SFU together), over a steady window.
  const [cpu0, bytes0, t0] = [await metric("onair_process_cpu_seconds"), relayed, Date.now()];
  await new Promise((r) => setTimeout(r, 5000));
  const [cpu1, bytes1, t1] = [await metric("onair_process_cpu_seconds"), await metric("onair_turn_relayed_bytes_total"), Date.now()];
  const mbits = ((bytes1 - bytes0) * 8) / 1e6 / ((t1 - t0) / 1000);
  const cores = (cpu1 - cpu0) / ((t1 - t0) / 1000);
  console.log(`server: ${allocations} allocations; relaying ${mbits.toFixed(2)} Mbit/s for two participants ` +
    `costs ${(cores * 100).toFixed(1)} % of a core in all, ${((cores * 100) / mbits).toFixed(2)} % of a core per relayed Mbit/s`);
});
