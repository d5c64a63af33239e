// Checks what `npm pack` would publish: the ESM module, the UMD bundle, the
// types and the README, and nothing of the sources, tests or node_modules.
// Usage: node scripts/check-pack.mjs
import { execFileSync } from "node:child_process";

const [report] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--loglevel=error"], { encoding: "utf8" }));
const files = report.files.map((f) => f.path);
const required = ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/onair-client.umd.js", "dist/call/call.d.ts"];
const missing = required.filter((f) => !files.includes(f));
const stray = files.filter((f) => /^(src|test|scripts|node_modules)\//.test(f));
if (missing.length || stray.length) {
  console.error(`npm pack: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(stray)}`);
  process.exit(1);
}
console.log(`npm pack: ${report.filename}, ${files.length} files, ${(report.size / 1024).toFixed(0)} KiB packed`);
