// Runs the browser scenarios in one Chromium, one after the other (two
// cores), printing each one's time: most against one `onair dev`, the
// multi-node ones against a cluster (an API node and two or three SFU nodes on
// Redis) started for each. Exit code 1 when any fails.
// Usage: node test/browser/run.mjs [name…]
import { startOnair } from "../support/onair.mjs";
import { startCluster } from "../support/cluster.mjs";
import { launch, redact } from "./lib.mjs";
import { ringAccept, ringReject } from "./ringing.mjs";
import { livestream } from "./livestream.mjs";
import { socketDrop } from "./socket.mjs";
import { drain, DRAIN_TIMEOUT_MS, failover, proxied, spanning } from "./failover.mjs";
import { fanout } from "./fanout.mjs";

const scenarios = { ringAccept, ringReject, livestream, socketDrop, failover, drain, spanning, proxied, fanout };
/** Scenarios that need a cluster rather than one `onair dev`: its SFU nodes and their config. */
const onCluster = {
  failover: { sfuExtra: "" },
  drain: { sfuExtra: `drain_timeout = "${DRAIN_TIMEOUT_MS / 1000}s"` },
  spanning: { sfuExtra: "sfu_capacity = 1" },
  proxied: { sfuExtra: "sfu_capacity = 1", apiExtra: "signal_proxy = true" },
  fanout: { sfuCount: 3, sfuExtra: "sfu_capacity = 1" },
};
const chosen = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(scenarios);

const onair = await startOnair();
const browser = await launch();
let failed = 0;
try {
  for (const name of chosen) {
    const started = Date.now();
    const cluster = name in onCluster ? await startCluster(onCluster[name]) : null;
    const server = cluster ?? onair;
    try {
      await scenarios[name](browser, server);
      console.log(`ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n${redact(String(e.stack || e))}`);
      console.log(`  server log (last lines):\n${redact(server.log().split("\n").slice(-40).join("\n"))}`);
    } finally {
      await cluster?.stop();
    }
  }
} finally {
  await browser.close();
  await onair.stop();
}
console.log(failed ? `${failed} of ${chosen.length} browser scenarios failed` : `all ${chosen.length} browser scenarios passed`);
process.exit(failed ? 1 : 0);
