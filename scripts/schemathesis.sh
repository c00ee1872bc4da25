#!/usr/bin/env bash
# The OpenAPI contract of example-api, checked by a client nobody here wrote: schemathesis
# (a property-based fuzzer, from PyPI) reads the live /openapi.json and drives every
# operation with valid and invalid requests for a bounded time, with all of its checks
# (no 5xx; every status, content type, header and body as documented; valid data accepted;
# invalid data refused; unsupported methods answered 405 with `Allow`; auth not ignored).
# Any disagreement fails the script.
#
# - schemathesis is installed, pinned, into a virtual environment under target/ when
#   missing (SCHEMATHESIS=/path/to/schemathesis uses another install).
# - The server is the debug build (cargo build -p example-api), started with its default
#   flags on a free loopback port over a fresh SQLite database, except for two:
#   --admin-token (so the admin operations can be called) and a raised computation budget
#   (--rate-limit 1000 --rate-limit-burst 1000). The fuzzer asks a new cache key on almost
#   every valid analytics request, which is exactly the client the default budget refuses
#   after ten; its 429 is documented and accepted by every check, but the run would then
#   see few of the 200 answers it is there to check against their schemas.
# - The demo user alice's token (printed at start-up) authenticates the channel
#   operations, the admin token the admin ones (schemathesis.toml, written below).
# - Fixed seed, about two minutes (SCHEMATHESIS_SECONDS, default 120).
# - EXAMPLE_API_BIN=/path/to/example-api checks another build instead.
#
# Usage: scripts/schemathesis.sh   (from anywhere; needs python3 with venv, and network
#        access to PyPI the first time)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

version=4.32.5
seed=20261205
seconds=${SCHEMATHESIS_SECONDS:-120}

schemathesis=${SCHEMATHESIS:-}
if [ -z "$schemathesis" ]; then
  venv=$root/target/schemathesis-$version
  schemathesis=$venv/bin/schemathesis
  if [ ! -x "$schemathesis" ]; then
    echo "scripts/schemathesis.sh: installing schemathesis $version into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
  fi
fi

if [ -n "${EXAMPLE_API_BIN:-}" ]; then
  bin=$EXAMPLE_API_BIN
else
  cargo build --quiet -p example-api
  bin=$root/target/debug/example-api
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

admin=schemathesis-admin-token
RUST_LOG=warn,example_api=info NO_COLOR=1 "$bin" --bind 127.0.0.1:0 \
  --database-url "sqlite://$work/example-api.db?mode=rwc" --admin-token "$admin" \
  --rate-limit 1000 --rate-limit-burst 1000 >"$work/server.log" 2>&1 &
server_pid=$!
base=""
for _ in $(seq 1 600); do
  base=$(grep -o 'listening on http://[0-9.:]*' "$work/server.log" | head -1 | cut -d' ' -f3 || true)
  [ -n "$base" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$work/server.log" >&2
    echo "scripts/schemathesis.sh: example-api did not start" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$base" ]; then
  cat "$work/server.log" >&2
  echo "scripts/schemathesis.sh: example-api did not report its address" >&2
  exit 1
fi
alice=$(grep -o 'demo user alice *Authorization: Bearer [^ ]*' "$work/server.log" | awk '{print $NF}')

# 413 is a correct refusal of invalid data (a field over its length), which schemathesis
# does not count as one by default.
cat >"$work/schemathesis.toml" <<EOF
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]

[[operations]]
include-tag = "admin"
headers = { Authorization = "Bearer $admin" }

[[operations]]
include-tag = "channels"
headers = { Authorization = "Bearer $alice" }
EOF

echo "scripts/schemathesis.sh: schemathesis $version against $base for ${seconds}s (seed $seed)" >&2
status=0
# From the scratch directory: schemathesis keeps a cache (.schemathesis/) where it runs.
(cd "$work" && "$schemathesis" --no-color --config-file "$work/schemathesis.toml" \
  run "$base/openapi.json" --checks all --seed "$seed" --max-time "$seconds" --workers 1 \
  --warnings off) 2>&1 | tee "$work/run.log" || status=$?
if [ "$status" -ne 0 ]; then
  echo "scripts/schemathesis.sh: schemathesis found disagreements (exit $status)" >&2
  tail -20 "$work/server.log" >&2
fi
exit "$status"
