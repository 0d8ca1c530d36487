#!/usr/bin/env bash
# The API against PostGraphile 5 (the server a user would pick instead) over
# the same PostgreSQL database, and against the SQL limit (pgbench of our
# own statements), back to back in one run:
#   (a) a vendor's latest 50 referrals with each partner's name,
#   (b) one referral by id,
#   (c) { __typename }.
# Also (a) without GraphQL (examples/api_floor.rs: the statement pgbench
# runs, on the server's pool, written as JSON by serde): the floor of this
# stack, which our server's (a) is compared with too.
# Each is `wrk -t1 -c32` for DURATION (after a 5 s warm-up), ours then the
# peer's, ROUNDS times; the ratios are per round. pgbench of our
# statements for (a) and (b) runs in each round turn by turn with ours,
# SLICES turns of 3 s each (rows `sql-a`, `sql-b`), so that each ratio to
# it is of the same seconds' machine.
#
#   bench/api.sh                 # seeds rh_bench_api on first use (10 vendors, 10k partners, 1M referrals)
#   RESEED=1 ROUNDS=3 DURATION=15s SLICES=5 bench/api.sh
#
# Needs: a release build (it runs cargo build), wrk, psql, pgbench, npm (the
# peer kit installs its node modules on first use), curl, python3.
set -euo pipefail
for tool in wrk psql pgbench npm curl python3 base64; do
  command -v "$tool" >/dev/null || { echo "bench/api.sh needs $tool (Debian: apt-get install -y wrk postgresql-client nodejs npm curl)" >&2; exit 1; }
done
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TARGET_DIR=$target
cargo build -q --release --bin referral-hub --example api_floor
bin=$target/release/referral-hub
admin=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=${BENCH_DB:-rh_bench_api}
url="${admin%/*}/$db"
rounds=${ROUNDS:-3}
duration=${DURATION:-15s}
slices=${SLICES:-5}
kit=${PEER_KIT:-$root/../shared/peer}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [ "${RESEED:-}" = 1 ] || ! psql "$url" -qtAc 'SELECT 1 FROM referral LIMIT 1' >/dev/null 2>&1; then
  echo "seeding $db (10 vendors, 10,000 partners, 1,000,000 referrals)..." >&2
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  DATABASE_URL=$url "$bin" --data-dir "$work" migrate >/dev/null
  psql "$url" -q -v ON_ERROR_STOP=1 -f bench/seed.sql
fi

# Our server, release build, jobs and dispatch off (they are not measured).
ours_port=$(free_port)
DATABASE_URL=$url JOBS_ENABLED=false DISPATCH_INTERVAL_SECS=0 RUST_LOG=warn \
  "$bin" serve --data-dir "$work" --bind "127.0.0.1:$ours_port" >"$work/ours.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$ours_port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
token=$("$bin" --data-dir "$work" token --role VENDOR --org 1 --sub bench --ttl 7d 2>/dev/null)

# The peer, from a writable copy of the kit.
cp -r "$kit" "$work/peer"
peer_port=$(free_port)
peer_out=$(cd "$work/peer" && DATABASE_URL=$url PORT=$peer_port PEER_LOG=$work/peer.log ./run-peer.sh)
pids+=("$(echo "$peer_out" | awk '/^pid:/ {print $2}')")

row=$(psql "$url" -qtAc "SELECT id FROM referral WHERE vendor_org_id = 1 ORDER BY id LIMIT 1 OFFSET 500")
global=$(printf 'Referral:%s' "$row" | base64)
cat >"$work/ours-a.json" <<JSON
{"query":"{ referrals(first: 50) { edges { node { id referenceId status createdAt lead { name } partner { name } } } } }"}
JSON
cat >"$work/ours-b.json" <<JSON
{"query":"query(\$id: ID!) { referral(id: \$id) { id referenceId status createdAt lead { name } } }","variables":{"id":"$global"}}
JSON
cat >"$work/peer-a.json" <<JSON
{"query":"{ allReferrals(first: 50, orderBy: CREATED_AT_DESC, condition: {vendorOrgId: \"1\"}) { nodes { id rowId referenceId status createdAt leadName partnerByPartnerId { name } } } }"}
JSON
cat >"$work/peer-b.json" <<JSON
{"query":"{ referralByRowId(rowId: \"$row\") { id rowId referenceId status createdAt leadName } }"}
JSON
echo '{"query":"{ __typename }"}' >"$work/ours-c.json"
cp "$work/ours-c.json" "$work/peer-c.json"

check() { # URL BODY TOKEN: the body answers without GraphQL errors
  curl -fsS -X POST -H 'Content-Type: application/json' ${3:+-H "Authorization: Bearer $3"} --data @"$2" "$1" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert "errors" not in d and d.get("data"), d'
}
measure() { # URL BODY TOKEN -> "req/s p99"
  check "$1" "$2" "$3"
  BODY_FILE=$2 TOKEN=$3 wrk -t1 -c32 -d5s --timeout 30s -s bench/post.lua "$1" >/dev/null
  local out
  out=$(BODY_FILE=$2 TOKEN=$3 wrk -t1 -c32 -d"$duration" --timeout 30s --latency -s bench/post.lua "$1")
  check "$1" "$2" "$3"
  if echo "$out" | grep -qE 'Non-2xx|Socket errors'; then echo "errors: $out" >&2; fi
  echo "$out" | awk '/Requests\/sec/ {rps=$2} / 99%/ {p99=$2} END {print rps, p99}'
}

# The SQL limit: pgbench of the statement our server sends for (a) (the
# page joined with its partners, the columns the query shows and those the
# page needs) and for (b) (the row); the caller is known from the principal
# cache, so nothing else is sent. With our connections' settings
# (`db::open`: no Memoize).
cat >"$work/sql-a.sql" <<SQL
SELECT r.id, r.partner_id, r.reference_id, r.status, r.lead_name, r.created_at, p.id, p.name
FROM referral r LEFT JOIN partner p ON p.id = r.partner_id
WHERE r.vendor_org_id = 1 ORDER BY r.created_at DESC, r.id DESC LIMIT 51;
SQL
cat >"$work/sql-b.sql" <<SQL
SELECT * FROM referral WHERE id = $row AND vendor_org_id = 1;
SQL
# The floor: request (a) without GraphQL, on the statement above.
floor_port=$(free_port)
"$target/release/examples/api_floor" "$url" "$work/sql-a.sql" "127.0.0.1:$floor_port" >"$work/floor.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS -o /dev/null -X POST --data '{}' "http://127.0.0.1:$floor_port/graphql" 2>/dev/null && break; sleep 0.2; done

ours="http://127.0.0.1:$ours_port/graphql"
peer="http://127.0.0.1:$peer_port/graphql"
floor="http://127.0.0.1:$floor_port/graphql"
line() { # one row of the table: round, query, ours, peer's (or pgbench's), ratio
  printf '%-5s %-6s %12s %10s %12s %10s %8s\n' "$@"
}
ratio() { # A B -> A / B to two places
  python3 -c "print(f'{$1 / $2:.2f}')"
}
pgbench_tps() { # SQL_FILE SECONDS -> tps, with our connections' settings
  PGOPTIONS="-c enable_memoize=off" pgbench -n -M prepared -c8 -j2 -T"$2" -f "$1" "$url" 2>/dev/null |
    awk '/^tps/ {print $3; exit}'
}
# Ours beside pgbench of our statement, in SLICES turns of 3 s each,
# alternating (ours, then pgbench): this machine's speed moves by a third
# within a minute (its cores, it seems, shared with other machines), so two 15 s runs one
# after the other measured the hour as much as the two. -> "ours_rps
# worst_p99 pgbench_tps", each a mean over its turns.
beside_sql() { # URL BODY TOKEN SQL_FILE
  check "$1" "$2" "$3"
  BODY_FILE=$2 TOKEN=$3 wrk -t1 -c32 -d3s --timeout 30s -s bench/post.lua "$1" >/dev/null
  local out rps=() p99s=() tps=()
  for _ in $(seq 1 "$slices"); do
    out=$(BODY_FILE=$2 TOKEN=$3 wrk -t1 -c32 -d3s --timeout 30s --latency -s bench/post.lua "$1")
    if echo "$out" | grep -qE 'Non-2xx|Socket errors'; then echo "errors: $out" >&2; fi
    rps+=("$(echo "$out" | awk '/Requests\/sec/ {print $2}')")
    p99s+=("$(echo "$out" | awk '/ 99%/ {print $2}')")
    tps+=("$(pgbench_tps "$4" 3)")
  done
  check "$1" "$2" "$3"
  python3 - "${rps[*]}" "${p99s[*]}" "${tps[*]}" <<'PY'
import sys
rps, p99s, tps = (s.split() for s in sys.argv[1:])
ms = lambda v: float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
mean = lambda xs: sum(map(float, xs)) / len(xs)
print(f"{mean(rps):.2f} {max(map(ms, p99s)):.2f}ms {mean(tps):.0f}")
PY
}

echo; line round query "ours req/s" "ours p99" "peer req/s" "peer p99" ratio
echo "(rows 'floor': the right-hand columns are (a) without GraphQL, the ratio ours / floor;"
echo " rows 'sql': ours and pgbench of our statements for the query, 3 s turns of each, means; the ratio ours / pgbench)"
for round in $(seq 1 "$rounds"); do
  for q in a b c; do
    # (c) is anonymous on both sides, as a browser's first request is.
    auth=$token; [ "$q" = c ] && auth=
    if [ "$q" != c ]; then
      # The SQL limit beside ours, turn by turn: the machine's speed
      # drifts over a run by more than a change of ours moves it.
      read -r s_rps s_p99 tps < <(beside_sql "$ours" "$work/ours-$q.json" "$auth" "$work/sql-$q.sql")
      ratio=$(ratio "$s_rps" "$tps")
      line "$round" "sql-$q" "$s_rps" "$s_p99" "$tps" "-" "$ratio"
    fi
    read -r o_rps o_p99 < <(measure "$ours" "$work/ours-$q.json" "$auth")
    read -r p_rps p_p99 < <(measure "$peer" "$work/peer-$q.json" "")
    ratio=$(ratio "$o_rps" "$p_rps")
    line "$round" "$q" "$o_rps" "$o_p99" "$p_rps" "$p_p99" "$ratio"
    if [ "$q" = a ]; then
      read -r f_rps f_p99 < <(measure "$floor" "$work/ours-a.json" "")
      ratio=$(ratio "$o_rps" "$f_rps")
      line "$round" "floor" "$o_rps" "$o_p99" "$f_rps" "$f_p99" "$ratio"
    fi
  done
done
