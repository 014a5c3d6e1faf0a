#!/usr/bin/env bash
# Feeds many random and mutated stacks to load/validate/plan (src/fuzz_tests.rs).
# Usage: scripts/soak-fuzz.sh [CASES]   (per generator; default 20000)
# A case that aborts the process is kept in target/fuzz-last.yaml; replay it with
#   PROVISION_FUZZ_REPLAY=target/fuzz-last.yaml cargo test --locked --lib fuzz_tests::replay -- --ignored
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-20000}"
# One generator at a time, so the saved case is the one that aborted.
for t in mutated_stacks random_expressions random_text; do
  PROVISION_FUZZ_CASES="$cases" PROVISION_FUZZ_LAST=target/fuzz-last.yaml \
    cargo test --locked --lib "fuzz_tests::$t" -- --nocapture --test-threads 1
done
