#!/usr/bin/env bash
# The CSV import's preview and commit of ROWS status updates (`bench import`),
# RUNS times on SQLite and on PostgreSQL, back to back, with the median of
# each. With BASELINE (another build of the `bench` binary, say one kept
# from before a change), the two builds run alternately, so a drift of the
# machine's speed falls on both alike.
#
#   bench/import.sh                                   # this build, 3 runs per database
#   RUNS=5 BASELINE=/tmp/bench-before bench/import.sh
#   DATABASES=sqlite SOLD=1 bench/import.sh           # every row a SOLD outcome earning a reward
#
# PostgreSQL: a fresh database BENCH_DB (default rh_bench_import) for every
# run, made with PG_ADMIN_URL. Needs a release build (it runs cargo build),
# psql and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TARGET_DIR=$target
cargo build -q --release --bin bench
runs=${RUNS:-3}
rows=${ROWS:-100000}
admin=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=${BENCH_DB:-rh_bench_import}
builds=("this:$target/release/bench")
[ -n "${BASELINE:-}" ] && builds+=("baseline:$BASELINE")
args=(import --rows "$rows")
[ "${SOLD:-}" = 1 ] && args+=(--sold)
results=$(mktemp)
trap 'rm -f "$results"' EXIT

run() { # DATABASE BUILD BINARY -> one line of results
  local out
  if [ "$1" = postgresql ]; then
    PGOPTIONS='-c client_min_messages=warning' psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    out=$(DATABASE_URL="${admin%/*}/$db" "$3" "${args[@]}")
  else
    out=$(env -u DATABASE_URL "$3" "${args[@]}")
  fi
  echo "$out" | python3 -c '
import re, sys
text = sys.stdin.read()
def seconds(label):
    m = re.search(label + r":\s+([0-9.]+)(ms|s)", text)
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
rate = re.search(r"end to end:\s+([0-9]+) rows/s", text).group(1)
growth = re.search(r"memory growth:\s+([0-9]+) KiB", text).group(1)
preview, commit = seconds("preview"), seconds("commit")
print(sys.argv[1], sys.argv[2], rate, f"{preview:.3f}", f"{commit:.3f}", growth)
' "$1" "$2"
}

printf '%-11s %-9s %10s %9s %9s %12s\n' database build rows/s preview commit "growth KiB"
for database in ${DATABASES:-sqlite postgresql}; do
  for _ in $(seq 1 "$runs"); do
    for build in "${builds[@]}"; do
      line=$(run "$database" "${build%%:*}" "${build#*:}")
      echo "$line" >>"$results"
      printf '%-11s %-9s %10s %9s %9s %12s\n' $line
    done
  done
done
echo
python3 - "$results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    database, build, rate, preview, commit, growth = line.split()
    runs.setdefault((database, build), []).append((int(rate), float(preview), float(commit), int(growth)))
for (database, build), rs in runs.items():
    rates = [r[0] for r in rs]
    print(f"{database} {build}: median {statistics.median(rates):,.0f} rows/s "
          f"(runs {' / '.join(f'{r:,}' for r in rates)}; preview {min(r[1] for r in rs):.2f}-{max(r[1] for r in rs):.2f} s, "
          f"commit {min(r[2] for r in rs):.2f}-{max(r[2] for r in rs):.2f} s, growth {min(r[3] for r in rs) / 1024:.1f}-{max(r[3] for r in rs) / 1024:.1f} MiB)")
PY
