#!/usr/bin/env bash
# Runs onair_flutter's Dart tests when a Dart SDK is on the PATH; says
# plainly that it skipped them otherwise (and exits 0).
#
# The tests cover the package's pure-Dart core (lib/onair_core.dart: REST,
# events socket, ringing, pushes, call state), which needs no Flutter. So
# that a plain Dart SDK can run them, they run in a copy of the package
# whose pubspec leaves out Flutter and livekit_client: the same files
# under lib/src/core and test/. That also proves the core imports nothing
# of Flutter. With Flutter installed, `flutter test` in this folder runs
# the same tests against the real package.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v dart >/dev/null 2>&1; then
  echo "onair_flutter: SKIPPED the Dart tests: no 'dart' on the PATH."
  echo "onair_flutter: nothing Dart was run; OnAir's side of the wire is tested by tests/flutter_wire.rs."
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lib/src"
cp -r "$here/lib/src/core" "$work/lib/src/core"
cp "$here/lib/onair_core.dart" "$work/lib/"
cp -r "$here/test" "$work/test"
cp "$here/analysis_options.yaml" "$work/"
cat > "$work/pubspec.yaml" <<'YAML'
name: onair_flutter
description: The pure-Dart core of onair_flutter, for its tests.
version: 0.1.0
publish_to: none
environment:
  sdk: ">=3.6.0 <4.0.0"
dependencies:
  http: ^1.6.0
  web_socket_channel: ^3.0.0
dev_dependencies:
  lints: ">=5.0.0 <7.0.0"
  test: ^1.25.0
YAML

cd "$work"
dart --version
dart pub get
dart analyze
dart test --reporter expanded
