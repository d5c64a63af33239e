#!/usr/bin/env bash
# Tests of @onair/client (sdk-clients/js): installs its npm packages when
# missing or stale, builds it (ESM, UMD bundle, types), checks `npm pack`,
# then runs the Node tests (node:test; REST and events socket against a
# real `onair dev`) and the Chromium scenarios (ringing, livestream player
# with HLS fallback, socket drop; calls and a livestream over SFU nodes). Safe to rerun; needs no input.
#   ONAIR_BIN   the onair binary (default: cargo's debug build)
#   CHROMIUM    the browser (default: /usr/bin/chromium)
#   SKIP_BROWSER=1  Node tests only
set -euo pipefail
export CI=true
exec </dev/null

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pkg="$here/js"
export ONAIR_BIN="${ONAIR_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/onair/target}/debug/onair}"
if [ ! -x "$ONAIR_BIN" ]; then
  echo "test-js: no onair binary at $ONAIR_BIN (build it, or set ONAIR_BIN)" >&2
  exit 1
fi

step() { # step NAME COMMAND…: runs it, printing how long it took
  local name="$1" start=$SECONDS
  shift
  echo "test-js: $name"
  "$@"
  echo "test-js: $name done in $((SECONDS - start)) s"
}

cd "$pkg"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci" npm ci --no-audit --no-fund --loglevel=error
fi
step "build" node scripts/build.mjs
step "types as apps see them" node node_modules/typescript/bin/tsc -p test/types/tsconfig.json
step "npm pack" node scripts/check-pack.mjs
step "node tests" node --test --test-reporter=spec test/unit/
if [ "${SKIP_BROWSER:-}" != 1 ]; then
  step "browser scenarios" node test/browser/run.mjs
fi
echo "test-js: all passed"
