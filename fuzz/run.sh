#!/usr/bin/env bash
# Builds the fuzz targets with cargo-fuzz (libFuzzer; installs cargo-fuzz
# if missing) and runs each one.
#   fuzz/run.sh            each target for $FUZZ_SECONDS (default 60) from its
#                          seeds (fuzz/seeds/T) and what earlier runs found
#                          (fuzz/corpus/T, not committed); a crash input is
#                          written to fuzz/artifacts/T/ and fails the run.
#   fuzz/run.sh --replay   only replays the seeds and fuzz/regressions/T
#                          (crashes found and fixed): what `make test` runs.
# The stable toolchain runs cargo-fuzz with RUSTC_BOOTSTRAP=1; no sanitizer
# (-s none), so a crash is a panic, an abort or a failed assertion.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/onair/fuzz-target}"
if ! command -v cargo-fuzz > /dev/null && [ ! -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
  echo "== installing cargo-fuzz"
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR/install" cargo install cargo-fuzz --locked --version 0.13.2
fi
export PATH="$HOME/.cargo/bin:$PATH"
targets=(datagram signal downtrack worker)
cargo fuzz build -s none -O 2>&1 | { grep -v "^\s*Compiling" || true; }
bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
for t in "${targets[@]}"; do
  [ -x "$bin/$t" ] || { echo "fuzz: $t was not built"; exit 1; }
done
seconds="${FUZZ_SECONDS:-60}"
for t in "${targets[@]}"; do
  mkdir -p "regressions/$t" "corpus/$t" "artifacts/$t"
  if [ "${1:-}" = "--replay" ]; then
    # Files as arguments: libFuzzer runs each once.
    inputs=(seeds/"$t"/* regressions/"$t"/*)
    "$bin/$t" "${inputs[@]}" > "artifacts/$t.log" 2>&1 \
      || { cat "artifacts/$t.log"; echo "fuzz: $t fails on a committed input"; exit 1; }
    echo "fuzz: $t replays its ${#inputs[@]} committed inputs"
  else
    "$bin/$t" "corpus/$t" "seeds/$t" "regressions/$t" -max_total_time="$seconds" \
      -artifact_prefix="artifacts/$t/" > "artifacts/$t.log" 2>&1 \
      || { tail -40 "artifacts/$t.log"; echo "fuzz: $t crashed; the input is in fuzz/artifacts/$t/"; exit 1; }
    echo "fuzz: $t: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "artifacts/$t.log"), $(grep -o 'cov: [0-9]*' "artifacts/$t.log" | tail -1), no crash"
  fi
done
