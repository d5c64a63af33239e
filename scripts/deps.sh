#!/usr/bin/env bash
# Installs what `make dev` and `make test` need and is missing. Safe to run
# again: it only installs what it cannot find.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

have_pg_bin() {
  command -v "$1" >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null
}

apt_need=()
command -v cc >/dev/null 2>&1 || apt_need+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || apt_need+=(pkg-config)
command -v curl >/dev/null 2>&1 || apt_need+=(curl)
command -v python3 >/dev/null 2>&1 || apt_need+=(python3 python3-pip)
# LiveKit's Python SDK, the second real client, lives in its own venv.
python3 -c 'import ensurepip' >/dev/null 2>&1 || apt_need+=(python3-venv)
# Tests start their own throwaway Postgres (initdb + postgres) and talk to it with psql.
have_pg_bin initdb && have_pg_bin postgres || apt_need+=(postgresql)
command -v psql >/dev/null 2>&1 || apt_need+=(postgresql-client)
# Browser tests and the demo page: Debian's Chromium (never a downloaded browser) and Node.
command -v chromium >/dev/null 2>&1 || apt_need+=(chromium)
# Reactions in the demo app (and its screenshots) are emoji.
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || apt_need+=(fonts-noto-color-emoji)
command -v node >/dev/null 2>&1 || apt_need+=(nodejs npm)
# The Redis bus tests (and split-role deployments) start their own redis-server.
command -v redis-server >/dev/null 2>&1 || apt_need+=(redis-server)
# Test media (VP8, H.264, Opus files) is made by ffmpeg.
command -v ffmpeg >/dev/null 2>&1 || apt_need+=(ffmpeg)
# Egress: GStreamer 1.22 (headers to build against, and the elements its
# pipelines use: compositor/audiomixer, vp8dec/opusdec, x264enc, avenc_aac, mp4mux).
pkg-config --exists gstreamer-app-1.0 2>/dev/null || apt_need+=(libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev)
for pkg in gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav; do
  dpkg -s "$pkg" >/dev/null 2>&1 || apt_need+=("$pkg")
done

if [ ${#apt_need[@]} -gt 0 ]; then
  echo "deps: installing ${apt_need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_need[@]}" >/dev/null
fi

# The Postgres harness runs the server as `postgres` when tests run as root.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
fi

# PyJWT: the third-party JWT library the token tests mint with.
if ! python3 -c 'import jwt' >/dev/null 2>&1; then
  echo "deps: installing PyJWT"
  python3 -m pip install --quiet --disable-pip-version-check pyjwt 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages pyjwt
fi

# LiveKit's Python SDK (`livekit` on PyPI): a second real client of the
# conformance tests, pinned, in a venv of its own (tests/livekit_python.rs).
venv="$HOME/.cache/onair/pyvenv"
if ! "$venv/bin/python" -c 'import livekit.rtc' >/dev/null 2>&1; then
  echo "deps: installing LiveKit's Python SDK into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'livekit==1.2.1'
fi

here="$(cd "$(dirname "$0")/.." && pwd)"

# @onair/client (sdk-clients/js): the demo page runs on its UMD bundle, which
# web/ links to (file:../sdk-clients/js). Built when dist is missing or older
# than its sources, so a clean clone and an edited SDK both get a fresh one.
sdk="$here/sdk-clients/js"
if [ ! -f "$sdk/node_modules/.package-lock.json" ] || [ "$sdk/package-lock.json" -nt "$sdk/node_modules/.package-lock.json" ]; then
  echo "deps: installing sdk-clients/js npm packages"
  (cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error)
fi
umd="$sdk/dist/onair-client.umd.js"
if [ ! -f "$umd" ] || [ -n "$(find "$sdk/src" "$sdk/scripts/build.mjs" "$sdk/package-lock.json" -newer "$umd" -print -quit)" ]; then
  echo "deps: building @onair/client (sdk-clients/js/dist)"
  (cd "$sdk" && node scripts/build.mjs >/dev/null)
fi

# livekit-client, hls.js, @onair/client (linked) and playwright-core, pinned by web/package-lock.json.
if [ ! -f "$here/web/node_modules/.package-lock.json" ] || [ "$here/web/package-lock.json" -nt "$here/web/node_modules/.package-lock.json" ]; then
  echo "deps: installing web/ npm packages"
  (cd "$here/web" && npm ci --no-audit --no-fund --loglevel=error)
fi

command -v cargo >/dev/null 2>&1 || { echo "deps: cargo not found; install Rust (rustup) first" >&2; exit 1; }

# s3s-fs: the S3-compatible server the S3 recording test starts (0.14 is the
# last release that builds with this machine's Rust 1.95).
if ! command -v s3s-fs >/dev/null 2>&1; then
  echo "deps: installing s3s-fs (cargo install, once)"
  cargo install --quiet --locked --features binary s3s-fs@0.14.1
fi
