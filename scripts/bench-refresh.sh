#!/usr/bin/env bash
# Prints what a no-change plan costs as a stack grows: wall time, API calls and
# peak memory of `provision plan` over N subnets (+1 VPC), against the emulator.
# Figures, not assertions: machines here are shared and noisy.
# Usage: scripts/bench-refresh.sh [N ...]   (default: 50 200)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-moto.sh
# BENCH_PROFILE=release for release figures (a cold release build takes ~17 min here).
profile="${BENCH_PROFILE:-dev}"
cargo build --profile "$profile" --locked --quiet
bin=target/$([ "$profile" = dev ] && echo debug || echo "$profile")/provision
venv="${PROVISION_VENV:-$PWD/.venv}"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
work="$(mktemp -d)"
MOTO_ACM_VALIDATION_WAIT=2 MOTO_IAM_LOAD_MANAGED_POLICIES=true "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
printf "%8s %10s %10s %12s\n" resources "plan (s)" "API calls" "peak RSS MB"
for n in "${@:-50 200}"; do
  curl -fs -X POST "http://127.0.0.1:$port/moto-api/reset" >/dev/null
  cat > "$work/bench.yaml" <<YAML
stack: bench$n
region: us-east-1
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.0.0.0/16}
  subnet:
    kind: ec2.subnet
    for_each: \${range($n)}
    properties: {vpc_id: "\${vpc.id}", availability_zone: us-east-1a, cidr_block: '\${cidrsubnet("10.0.0.0/16", 12, each.index)}'}
YAML
  "$bin" apply -s "$work/bench.yaml" --state "$work/$n.json" --auto-approve --parallelism 10 >"$work/apply.log" || { tail -5 "$work/apply.log"; exit 1; }
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --stats plan -s "$work/bench.yaml" --state "$work/$n.json" --detailed-exitcode >/dev/null 2>"$work/stats" || true
  read -r secs kb < "$work/time"
  calls=$(sed -n 's/^API calls: //p' "$work/stats")
  printf "%8s %10s %10s %12s\n" "$((n + 1))" "$secs" "$calls" "$((kb / 1024))"
done
