#!/usr/bin/env bash
# What the one sequence of events costs (PRODUCT.md §9), measured against
# the build before it, back to back in one run: two release binaries,
# `BEFORE` (default /tmp/old-bin/referral-hub) and this tree's.
#   writes: `wrk -t2 -c16` submitting referrals (each one event) for
#           DURATION, on a fresh database per server and round;
#   latency: `bench offer-latency` (commit to the partner's subscription),
#           with the bench binary next to each server binary.
# On SQLite and PostgreSQL (BACKENDS="sqlite postgres"); ROUNDS rounds,
# alternating which build goes first.
#
#   BEFORE=/tmp/old-bin/referral-hub ROUNDS=3 DURATION=10s bench/events-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TARGET_DIR=$target
cargo build -q --release --bins
after=$target/release/referral-hub
before=${BEFORE:-/tmp/old-bin/referral-hub}
admin=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
rounds=${ROUNDS:-3}
duration=${DURATION:-10s}
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  psql "$admin" -qc "DROP DATABASE IF EXISTS rh_bench_cost WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# writes BIN BACKEND: referrals per second through the API.
writes() {
  local bin=$1 backend=$2 data port url=
  data=$(mktemp -d -p "$work")
  if [ "$backend" = postgres ]; then
    psql "$admin" -qc "DROP DATABASE IF EXISTS rh_bench_cost WITH (FORCE)" -c "CREATE DATABASE rh_bench_cost" >/dev/null
    url="${admin%/*}/rh_bench_cost"
  fi
  env ${url:+DATABASE_URL=$url} "$bin" --data-dir "$data" demo-data >/dev/null 2>&1
  port=$(free_port)
  env ${url:+DATABASE_URL=$url} JOBS_ENABLED=false DISPATCH_INTERVAL_SECS=0 RUST_LOG=warn \
    "$bin" serve --data-dir "$data" --bind "127.0.0.1:$port" >"$data/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  local token partner
  token=$(env ${url:+DATABASE_URL=$url} "$bin" --data-dir "$data" token --role VENDOR --org 1 --sub bench --ttl 7d 2>/dev/null)
  partner=$(curl -fsS "http://127.0.0.1:$port/graphql" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"query":"{ partners(filter: { status: [ACTIVE] }, first: 1) { edges { node { id } } } }"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["partners"]["edges"][0]["node"]["id"])')
  cat >"$data/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $token"
wrk.body = '{"query":"mutation(\$i: SubmitReferralInput!) { submitReferral(input: \$i) { id } }","variables":{"i":{"partnerId":"$partner","lead":{"name":"Cost"}}}}'
LUA
  wrk -t2 -c16 -d"$duration" -s "$data/post.lua" "http://127.0.0.1:$port/graphql" | awk '/Requests\/sec/ {print $2}'
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

latency() {
  local bin=$1 backend=$2 url=
  if [ "$backend" = postgres ]; then
    psql "$admin" -qc "DROP DATABASE IF EXISTS rh_bench_cost WITH (FORCE)" -c "CREATE DATABASE rh_bench_cost" >/dev/null
    url="${admin%/*}/rh_bench_cost"
  fi
  env ${url:+DATABASE_URL=$url} "$(dirname "$bin")/bench" offer-latency --count 50 | awk -F': ' '/p50/ {print $2}'
}

backends=(${BACKENDS:-sqlite postgres})
for backend in "${backends[@]}"; do
  for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order=("$before" "$after"); else order=("$after" "$before"); fi
    for bin in "${order[@]}"; do
      name=$([ "$bin" = "$before" ] && echo before || echo after)
      echo "$backend round $round $name: $(writes "$bin" "$backend") referrals/s; offer latency p50 / p99 / max: $(latency "$bin" "$backend")"
    done
  done
done
