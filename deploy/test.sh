#!/usr/bin/env bash
# The checks of deploy/ that run in `make test` (no Docker, no cluster, no
# systemd needed): every config the deploy files make is loaded by the real
# `onair serve --check-config`; the Helm chart is rendered and validated
# against the Kubernetes schemas; compose.yaml against the Compose spec; and
# ports, probes, grace periods and secrets are checked to agree.
#   ONAIR_BIN=target/debug/onair deploy/test.sh
# Installs its pinned Python packages once into $HOME/.cache/onair/deployvenv.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
ONAIR_BIN="${ONAIR_BIN:-$repo/target/debug/onair}"
if [ ! -x "$ONAIR_BIN" ]; then
  echo "deploy/test.sh: no onair binary at $ONAIR_BIN (set ONAIR_BIN)" >&2
  exit 2
fi

venv="$HOME/.cache/onair/deployvenv"
req="$here/tests/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "deploy: installing the pinned checkers into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # Debian 12's venv pip (23.0) predates some of the wheels' metadata.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input 'pip==24.3.1'
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input --require-virtualenv -r "$req"
  echo "$want" > "$stamp"
fi

PYTHONDONTWRITEBYTECODE=1 ONAIR_BIN="$(cd "$(dirname "$ONAIR_BIN")" && pwd)/$(basename "$ONAIR_BIN")" \
  exec "$venv/bin/python" "$here/tests/check.py"
