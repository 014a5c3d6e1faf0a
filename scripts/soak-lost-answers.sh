#!/usr/bin/env bash
# Applies the reference stack through the strict layer with 15 % of answers
# lost at random, once per seed, and checks that nothing is made twice, every
# object is recorded and the plan after it is clean. The test suite runs one
# seed; this runs many. Usage: scripts/soak-lost-answers.sh [FIRST] [LAST]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-moto.sh
first=${1:-1}
last=${2:-20}
cargo test --locked --test it --no-run
pass=0
fail=0
for seed in $(seq "$first" "$last"); do
  if PROVISION_LOSS_SEED=$seed cargo test --locked --test it \
      the_reference_stack_applies_exactly_once -- --nocapture >"/tmp/soak-lost-$seed.log" 2>&1; then
    pass=$((pass + 1))
    echo "seed $seed: ok ($(grep -o 'lost .*' "/tmp/soak-lost-$seed.log" | head -1 | tr ',' '\n' | wc -l) operations lost answers)"
  else
    fail=$((fail + 1))
    echo "seed $seed: FAILED (see /tmp/soak-lost-$seed.log)"
  fi
done
echo "rounds: $((pass + fail)), passed: $pass, failed: $fail"
[ "$fail" -eq 0 ]
