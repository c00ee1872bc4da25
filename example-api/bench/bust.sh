#!/usr/bin/env bash
# Cache-busting benchmark of example-api (issue 14): 16 clients ask
# /analytics/demo/post-dynamics?hours=<random> as fast as they can, each request a likely
# new cache key, while another client (from 127.0.0.2, so another client to the rate
# limiter) sends ordinary requests and times them: GET /channels with a demo token (one
# uncached database query) and GET /health (none).
#
# Scenarios, each against a fresh server on the default dataset:
#   quiet   no attack: the ordinary requests alone
#   issue   the issue's attack: hours uniform in 1000..2160
#   days    the same attack limited to windows the service serves above a week
#           (whole days, 1008..2160 step 24)
#
# Usage: example-api/bench/bust.sh [-d SECONDS] [-c CLIENTS] [BINARY]
#   BINARY defaults to target/release/example-api (built unless SKIP_BUILD=1). Extra
#   server flags: env SERVER_ARGS. Needs wrk (apt-get install -y wrk) and curl.
set -euo pipefail

duration=15
clients=16
while getopts "d:c:" opt; do
  case $opt in
    d) duration=$OPTARG ;;
    c) clients=$OPTARG ;;
    *) echo "usage: $0 [-d seconds] [-c clients] [binary]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 1; }
bin=${1:-$root/target/release/example-api}
if [ -z "${1:-}" ] && [ -z "${SKIP_BUILD:-}" ]; then
  (cd "$root" && cargo build --release -p example-api >&2)
fi

work=$(mktemp -d)
server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
trap 'stop_server; rm -rf "$work"' EXIT

# Seed once; every scenario starts a fresh server (cold caches) on a copy.
start_server() {
  local log="$work/server-$1.log"
  rm -f "$work"/run.db*
  if [ -f "$work/seed.db" ]; then cp "$work/seed.db" "$work/run.db"; fi
  # shellcheck disable=SC2086
  RUST_LOG=warn,example_api=info NO_COLOR=1 "$bin" --bind 127.0.0.1:0 \
    --database-url "sqlite://$work/run.db?mode=rwc" --admin-token bench-admin \
    ${SERVER_ARGS:-} >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do
    if grep -qs "ready: listening on" "$log"; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then cat "$log" >&2; exit 1; fi
    sleep 0.1
  done
  local clean
  clean=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
  base=$(grep -o 'listening on http://[0-9.:]*' <<<"$clean" | head -1 | sed 's/listening on //')
  token=$(grep -o 'Bearer demo-alice-[0-9a-f]*' <<<"$clean" | head -1 | sed 's/Bearer //')
  [ -n "$base" ] && [ -n "$token" ] || { cat "$log" >&2; exit 1; }
  if [ ! -f "$work/seed.db" ]; then
    stop_server
    cp "$work/run.db" "$work/seed.db"
    start_server "$@"
  fi
}

# ordinary SECONDS: times /channels and /health from 127.0.0.2, 5 a second each; prints
# "p50 p90 max count" in ms for each, one line per path.
ordinary() {
  local until=$((SECONDS + $1))
  : >"$work/channels.ms"; : >"$work/health.ms"
  while [ $SECONDS -lt $until ]; do
    curl -s -o /dev/null --interface 127.0.0.2 --max-time 60 -w '%{time_total}\n' \
      -H "Authorization: Bearer $token" "$base/channels" >>"$work/channels.ms" || echo 60 >>"$work/channels.ms"
    curl -s -o /dev/null --interface 127.0.0.2 --max-time 60 -w '%{time_total}\n' \
      "$base/health" >>"$work/health.ms" || echo 60 >>"$work/health.ms"
    sleep 0.2
  done
  for f in channels health; do
    sort -n "$work/$f.ms" | awk -v name="$f" '{ v[NR] = $1 * 1000 } END {
      printf "%s %.1f %.1f %.1f %d\n", name, v[int((NR + 1) * 0.5)], v[int((NR + 1) * 0.9)], v[NR], NR }'
  done
}

scenario() {
  local name=$1 lo=$2 hi=$3 step=$4
  start_server "$name"
  local attack_out="$work/attack-$name.txt"
  if [ "$name" != quiet ]; then
    BUST_LO=$lo BUST_HI=$hi BUST_STEP=$step wrk -t2 -c"$clients" -d"${duration}s" --timeout 60s \
      -s "$here/bust.lua" "$base/" >"$attack_out" 2>&1 &
    local wrk_pid=$!
    sleep 1
    ordinary $((duration - 2)) >"$work/ordinary-$name.txt"
    wait "$wrk_pid" || true
  else
    ordinary "$duration" >"$work/ordinary-$name.txt"
    echo "BUST 0 0 0 0 0 0 0" >"$attack_out"
  fi
  stop_server
  local line
  line=$(grep '^BUST' "$attack_out" || echo "BUST ? ? ? ? ? ? ?")
  read -r _ total ok bad limited other a50 a99 <<<"$line"
  while read -r path p50 p90 max n; do
    printf '| %s | %s | %s | %s/%s/%s/%s | %s | %s | %s | %s | %s |\n' "$name" "$total" \
      "$(awk -v t="$ok" -v d="$duration" 'BEGIN { if (t ~ /^[0-9]+$/) printf "%.1f", t / d; else print "-" }')" \
      "$ok" "$bad" "$limited" "$other" "$path" "$p50" "$p90" "$max" "$n"
  done <"$work/ordinary-$name.txt"
}

echo "$(date -u '+%F %H:%M') UTC, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); binary $bin; $clients attacking clients, ${duration}s each" >&2
echo "| scenario | attack requests | attack 200/s | 200/400/429/other | ordinary request | p50 ms | p90 ms | max ms | samples |"
echo "|---|---:|---:|---|---|---:|---:|---:|---:|"
scenario quiet 0 0 1
scenario issue 1000 2160 1
scenario days 1008 2160 24
