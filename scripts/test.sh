#!/usr/bin/env bash
# The whole test suite: unit tests of the engine and the integration tests
# against the AWS emulator (moto server, installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-moto.sh
cargo test --all-targets --locked "$@"
