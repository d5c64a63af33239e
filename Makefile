# The two commands: `make dev` runs OnAir on embedded defaults, `make test`
# runs the whole test suite. Both install what is missing first.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: dev test deps bench lint fuzz

deps:
	@scripts/deps.sh

dev: deps
	$(CARGO) run --bin onair -- dev

# The onair binary `cargo test` built, for the SDKs' tests.
ONAIR_BIN = $$($(CARGO) metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/onair

test: deps
	$(CARGO) test --workspace --no-fail-fast
	ONAIR_BIN="$(ONAIR_BIN)" sdk-clients/test-backend.sh
	ONAIR_BIN="$(ONAIR_BIN)" sdk-clients/test-js.sh
	sdk-clients/flutter/test.sh
	ONAIR_BIN="$(ONAIR_BIN)" deploy/test.sh
	fuzz/run.sh --replay

# Coverage-guided fuzzing of what hostile peers send the SFU (libFuzzer):
# each target for FUZZ_SECONDS (default 60). See fuzz/run.sh.
fuzz:
	fuzz/run.sh

# sfu_forward measures Janus (Debian's package) beside OnAir where it runs.
bench: deps
	@command -v janus >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive $$([ "$$(id -u)" = 0 ] || echo sudo) apt-get install -y -qq --no-install-recommends janus >/dev/null || echo "bench: janus not installed; sfu_forward skips it"
	$(CARGO) bench --bench api_join
	$(CARGO) bench --bench sfu_forward
	$(CARGO) bench --bench sfu_relay
	$(CARGO) bench --bench egress_composite
	$(CARGO) bench --bench ingest_latency
	$(CARGO) bench --bench webhooks
	$(CARGO) bench --bench tls_handshake

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	python3 scripts/layout.py
