// Builds dist/: the ESM module (dependencies left as imports), the UMD
// bundle with livekit-client and hls.js inside (global `OnAir`), and the
// type declarations (tsc). Usage: node scripts/build.mjs
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
rmSync(dist, { recursive: true, force: true });

const common = { entryPoints: [path.join(root, "src/index.ts")], bundle: true, target: "es2020", sourcemap: true, logLevel: "warning" };

await esbuild.build({ ...common, format: "esm", packages: "external", outfile: path.join(dist, "index.js") });

// A plain <script> gets `window.OnAir`; AMD loaders (and CommonJS bundlers that
// read it as a script) get the module.
const footer = `if (typeof module === "object" && module.exports) module.exports = OnAir;
else if (typeof define === "function" && define.amd) define([], function () { return OnAir; });`;
await esbuild.build({
  ...common, format: "iife", globalName: "OnAir", minify: true, platform: "browser", sourcesContent: false,
  outfile: path.join(dist, "onair-client.umd.js"), footer: { js: footer },
});

execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.json")], { stdio: "inherit" });
console.log("built dist/index.js, dist/onair-client.umd.js, dist/*.d.ts");
