#!/usr/bin/env bash
# Tests the backend SDKs (`@onair/node` in node/, `onair` in python/)
# against a real `onair dev` that each suite starts on free loopback ports,
# then proves both package: `npm pack --dry-run` and a wheel build.
# Safe to rerun: npm devDependencies (`npm ci`) and the test venv are
# installed only when missing or stale. Needs node 20+, npm, python3 (3.11+).
#   ONAIR_BIN        the onair binary (default: $CARGO_TARGET_DIR or
#                    ~/.cache/onair/target, then debug/onair)
#   ONAIR_SDK_VENV   the test venv (default: ~/.cache/onair/sdkvenv)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export ONAIR_BIN="${ONAIR_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/onair/target}/debug/onair}"
if [ ! -x "$ONAIR_BIN" ]; then
  echo "test-backend: no onair binary at $ONAIR_BIN (build it, or set ONAIR_BIN)" >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step() { printf '\n== %s\n' "$*"; }
sum() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- @onair/node ---------------------------------------------------------
cd "$here/node"
lock="$(sum package-lock.json)"
if [ ! -d node_modules ] || [ "$(cat node_modules/.onair-lock 2>/dev/null)" != "$lock" ]; then
  step "node: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock" > node_modules/.onair-lock
fi
step "node: tsc"
rm -rf dist
npx --no-install tsc -p tsconfig.json
step "node: node --test"
node --test test/*.test.mjs 2>&1 | tee "$tmp/node.log"
node_passed="$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tmp/node.log")"
step "node: npm pack --dry-run"
npm pack --dry-run --json --ignore-scripts > "$tmp/pack.json"
node -e '
  const [pack] = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const files = pack.files.map((f) => f.path);
  for (const need of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/server.js"]) {
    if (!files.includes(need)) throw new Error(`npm pack lacks ${need}`);
  }
  const stray = files.filter((f) => /^(src|test|node_modules)\//.test(f));
  if (stray.length) throw new Error(`npm pack would ship ${stray}`);
  console.log(`${pack.filename}: ${files.length} files, ${pack.size} bytes`);
' "$tmp/pack.json"

# --- onair (Python) --------------------------------------------------------
cd "$here/python"
venv="${ONAIR_SDK_VENV:-$HOME/.cache/onair/sdkvenv}"
mkdir -p "$(dirname "$venv")"
want="$(printf '%s\n' "$here/python" "$(sum requirements-test.txt pyproject.toml)")"
exec 9>"$venv.lock"
flock 9
if [ "$(cat "$venv/.onair-stamp" 2>/dev/null)" != "$want" ] || ! "$venv/bin/python" -c 'import pytest, onair' >/dev/null 2>&1; then
  step "python: venv $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements-test.txt
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  printf '%s\n' "$want" > "$venv/.onair-stamp"
fi
flock -u 9
step "python: pytest"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests 2>&1 | tee "$tmp/py.log"
py_passed="$(sed -n 's/^\([0-9]*\) passed.*/\1/p' "$tmp/py.log" | tail -1)"
step "python: wheel"
"$venv/bin/pip" wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation -w "$tmp/wheel" .
"$venv/bin/python" - "$tmp/wheel" <<'PY'
import pathlib, sys, zipfile
wheels = list(pathlib.Path(sys.argv[1]).glob("onair-*.whl"))
assert len(wheels) == 1, wheels
names = zipfile.ZipFile(wheels[0]).namelist()
for need in ["onair/__init__.py", "onair/client.py", "onair/py.typed"]:
    assert need in names, f"the wheel lacks {need}"
assert not [n for n in names if n.startswith("tests/")], "the wheel ships tests"
print(f"{wheels[0].name}: {len(names)} files")
PY

echo
echo "backend SDKs: node ${node_passed:-?} and python ${py_passed:-?} tests, packages built"
echo "$(( ${node_passed:-0} + ${py_passed:-0} )) passed, 0 failed"
