#!/usr/bin/env bash
# Prints provision's performance figures in one table (figures, never assertions:
# these machines are shared and noisy):
#   - plan CPU time and peak memory at 2k / 10k / 50k resources (an empty cloud);
#   - calls and wall time of a no-change plan of the reference stack, with and
#     without 50 ms added to every call (tests/it/bench.rs, through the strict layer);
#   - the reference stack's apply against its critical path: through the strict
#     layer (objects pending for 1/100 of the time AWS typically takes), and on
#     AWS's typical times in full (the scheduler on a paused clock, fake cloud).
#   - the scale stack (a VPC, N subnets, N route tables) at N = 250, 1,000, 2,000:
#     apply and no-op plan CPU, wall, memory, calls a object; and at N = 1,000
#     through AWS's published request buckets beside the time they set;
#   - a no-op plan of 10,002 objects, its reads answered from a made-up state
#     (moto cannot carry it), beside the answering server's own time.
# Usage: scripts/bench.sh [--release]   (a cold release build takes ~13-17 min here)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-moto.sh >/dev/null
profile=debug
if [ "${1:-}" = "--release" ]; then
  profile=release
  cargo build --release --locked --quiet
  export PROVISION_BIN="$PWD/target/release/provision"
else
  cargo build --locked --quiet --all-targets
fi
bin="$PWD/target/$profile/provision"
venv="${PROVISION_VENV:-$PWD/.venv}"
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
MOTO_ACM_VALIDATION_WAIT=2 MOTO_IAM_LOAD_MANAGED_POLICIES=true "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1

# A VPC and N/2 subnets each with a route table that refers to it, in blocks of
# 5,000 (a for_each makes at most 10,000 copies).
stack_of() {
  python3 - "$1" <<'PY'
import sys
pairs = (int(sys.argv[1]) - 1) // 2
out = ["stack: bench", "region: us-east-1", "resources:", "  vpc:", "    kind: ec2.vpc",
       "    properties: {cidr_block: 10.0.0.0/8}"]
b = 0
while pairs > 0:
    n = min(5000, pairs)
    out += [f"  subnet{b}:", "    kind: ec2.subnet", f"    for_each: ${{range({n})}}",
            "    properties: {vpc_id: \"${vpc.id}\", availability_zone: us-east-1a, "
            f"cidr_block: '${{cidrsubnet(\"10.0.0.0/8\", 16, each.index + {b * 5000})}}'}}",
            f"  rt{b}:", "    kind: ec2.route_table", f"    for_each: ${{range({n})}}",
            f"    properties: {{vpc_id: \"${{vpc.id}}\", tags: {{Name: \"rt-${{subnet{b}[each.key].id}}\"}}}}"]
    pairs -= n
    b += 1
print("\n".join(out))
PY
}

echo "provision benchmarks ($profile build)"
echo
printf "%-44s %s\n" "figure" "value"
for n in 2001 10001 50001; do
  stack_of "$n" >"$work/s$n.yaml"
  /usr/bin/time -f "%U %S %M %e" -o "$work/t$n" "$bin" plan -s "$work/s$n.yaml" --state "$work/st$n.json" >/dev/null
  read -r user sys kb wall <"$work/t$n"
  printf "%-44s %s\n" "plan of $n resources: CPU, peak RSS" \
    "$(python3 -c "print(f'{$user + $sys:.2f} s CPU ($wall s wall), {$kb // 1024} MB')")"
done
kill $moto 2>/dev/null || true

cargo test --locked --test it bench_ -- --ignored --nocapture --test-threads 1 2>/dev/null |
  sed -n 's/.*BENCH //p' | while read -r what rest; do
    printf "%-44s %s\n" "$what" "$rest"
  done

cargo test --locked --lib the_reference_apply_takes -- --nocapture 2>/dev/null |
  sed -n 's/^parallelism \([0-9]*\): took \([0-9]*\)s for \([0-9]*\)s of operations; critical path \([0-9]*\)s.*/\1 \2 \3 \4/p' |
  while read -r p took work path; do
    printf "%-44s %s\n" "apply on AWS's times (simulated), parallelism $p" \
      "took=${took}s critical_path=${path}s work=${work}s ratio=$(python3 -c "print(f'{$took / $path:.3f}')")"
  done

cargo test --locked --lib the_failover_takes -- --nocapture 2>/dev/null |
  sed -n "s/^failover on AWS's typical times: \([0-9]*\)s; critical path: \(.*\)/\1 \2/p" |
  while read -r took path; do
    printf "%-44s %s\n" "failover of examples/failover.yaml (simulated)" "took=${took}s: $path"
  done

# The scale stack (one VPC, N subnets, N route tables each associated with its
# subnet) on plain moto: apply and no-op plan, CPU of provision itself, wall,
# calls; then at N = 1,000 through AWS's published buckets (the strict layer),
# beside the time the buckets alone set.
scale_of() {
  cat <<YAML
stack: scale
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.0.0.0/16}
  subnet:
    kind: ec2.subnet
    for_each: \${range($1)}
    properties: {vpc_id: "\${vpc.id}", availability_zone: us-east-1a, cidr_block: '\${cidrsubnet("10.0.0.0/16", 12, each.index)}'}
  rt:
    kind: ec2.route_table
    for_each: \${range($1)}
    properties: {vpc_id: "\${vpc.id}", subnet_ids: ["\${subnet[each.key].id}"]}
YAML
}
for n in ${PROVISION_BENCH_SCALE:-250 1000 2000}; do
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto-scale.log" 2>&1 &
  moto=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  scale_of "$n" >"$work/scale$n.yaml"
  objects=$((2 * n + 1))
  for what in apply plan; do
    if [ "$what" = apply ]; then args=(apply --auto-approve); else args=(plan); fi
    /usr/bin/time -f "%U %S %M %e" -o "$work/ts" "$bin" --stats "${args[@]}" -s "$work/scale$n.yaml" \
      --state "$work/scale$n.json" >"$work/out" 2>&1
    read -r user sys kb wall <"$work/ts"
    calls="$(sed -n 's/^API calls: //p' "$work/out")"
    printf "%-44s %s\n" "scale $what of $objects objects" \
      "$(python3 -c "print(f'{$user + $sys:.2f} s CPU, {$wall} s wall, {$kb // 1024} MB, $calls calls ({$calls / $objects:.2f} a object)')")"
  done
  printf "%-44s %s\n" "  the emulator's own time for those reads" \
    "$("$venv/bin/python" scripts/bench-emulator-reads.py scale)"

  kill $moto 2>/dev/null || true
done
unset AWS_ENDPOINT_URL

# A no-op plan of 10,002 live objects. moto cannot answer it (see
# scripts/bench-refresh-replay.py): a server answers the same reads from a
# made-up state at once, and says how long it took itself.
objects="${PROVISION_BENCH_REFRESH:-5000}"
python3 scripts/bench-refresh-replay.py make "$objects" "$work/syn.yaml" "$work/syn.json"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
python3 scripts/bench-refresh-replay.py serve "$work/syn.json" "$port" >"$work/replay.log" 2>&1 &
replay=$!
sleep 1
AWS_ENDPOINT_URL="http://127.0.0.1:$port" /usr/bin/time -f "%U %S %M %e" -o "$work/ts" \
  "$bin" --stats plan --detailed-exitcode -s "$work/syn.yaml" --state "$work/syn.json" >"$work/out" 2>&1
kill $replay; wait $replay 2>/dev/null || true
read -r user sys kb wall <"$work/ts"
calls="$(sed -n 's/^API calls: //p' "$work/out")"
printf "%-44s %s\n" "no-op plan of $((2 * objects + 2)) objects (replayed)" \
  "$(python3 -c "print(f'{$user + $sys:.2f} s CPU, {$wall} s wall, {$kb // 1024} MB, $calls calls')")"
printf "%-44s %s\n" "  the replaying server's own time" "$(cat "$work/replay.log")"

# (The scale apply through the published buckets is printed with the other
# BENCH lines above: bench_scale_apply_at_the_published_rates.)
