// Runs the browser scenarios against one `onair dev` in one Chromium, one
// after the other (two cores), printing each one's time. Exit code 1 when
// any fails. Usage: node test/browser/run.mjs [name…]
import { startOnair } from "../support/onair.mjs";
import { launch, redact } from "./lib.mjs";
import { ringAccept, ringReject } from "./ringing.mjs";
import { livestream } from "./livestream.mjs";
import { socketDrop } from "./socket.mjs";

const scenarios = { ringAccept, ringReject, livestream, socketDrop };
const chosen = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(scenarios);

const onair = await startOnair();
const browser = await launch();
let failed = 0;
try {
  for (const name of chosen) {
    const started = Date.now();
    try {
      await scenarios[name](browser, onair);
      console.log(`ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n${redact(String(e.stack || e))}`);
      console.log(`  server log (last lines):\n${redact(onair.log().split("\n").slice(-40).join("\n"))}`);
    }
  }
} finally {
  await browser.close();
  await onair.stop();
}
console.log(failed ? `${failed} of ${chosen.length} browser scenarios failed` : `all ${chosen.length} browser scenarios passed`);
process.exit(failed ? 1 : 0);
