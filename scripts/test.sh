#!/usr/bin/env bash
# The README's test command: makes sure what the tests need is at hand
# (scripts/test-deps.sh: a current nats-server, Python grpcio), then runs every test of the
# workspace (extra arguments go to `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/test-deps.sh
. scripts/test-deps.sh
exec cargo test --workspace "$@"
