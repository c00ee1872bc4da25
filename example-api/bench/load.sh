#!/usr/bin/env bash
# Load benchmark of example-api with wrk (Debian: apt-get install -y wrk).
#
# Builds the service in release mode, seeds a default-size database in a temporary
# directory, and measures requests/s and p50/p99 latency on loopback for:
#   - /health,
#   - each cached endpoint, warm (one request before measuring fills the cache),
#   - the same endpoints with caching disabled by configuration (--no-cache),
#   - the cached endpoints with Accept-Encoding: gzip (served from the stored variant),
#   - the cached GET endpoints revalidated with If-None-Match (304 answers),
# and the bytes on the wire plain / gzip / brotli (curl, one request each).
# Prints a Markdown table with the cached/uncached and gzip/plain ratios. All requests come
# from one client. The uncached run turns the per-client budget off (--rate-limit 0): every
# request there is a computation, and it measures them, not refusals. The cached run does
# too unless DEFAULTS=1, which runs it with the service's default flags (warm hits and 304s
# spend no budget, so none should be refused; refused requests are counted and reported,
# and the script then exits non-zero).
#
# Usage: example-api/bench/load.sh [-d SECONDS] [-c CONNECTIONS] [-t THREADS]
#   env SKIP_BUILD=1 reuses target/release/example-api (BIN=/path uses another binary),
#   DEFAULTS=1 as above.
set -euo pipefail

duration=5
connections=32
uncached_connections=4
threads=1
while getopts "d:c:t:" opt; do
  case $opt in
    d) duration=$OPTARG ;;
    c) connections=$OPTARG ;;
    t) threads=$OPTARG ;;
    *) echo "usage: $0 [-d seconds] [-c connections] [-t threads]" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 1; }

if [ -z "${SKIP_BUILD:-}" ]; then
  (cd "$root" && cargo build --release -p example-api >&2)
fi
bin="${BIN:-$root/target/release/example-api}"
failed=0

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

# Starts the service on a free port (it binds 127.0.0.1:0 and logs the address) and sets
# $base and $token. Extra arguments go to the service.
start_server() {
  local log="$work/server-$1.log"
  shift
  RUST_LOG=warn,example_api=info NO_COLOR=1 "$bin" \
    --bind 127.0.0.1:0 \
    --database-url "sqlite://$work/bench.db?mode=rwc" \
    --admin-token bench-admin \
    "$@" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do
    if grep -q "ready: listening on" "$log"; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then cat "$log" >&2; exit 1; fi
    sleep 0.1
  done
  local clean
  clean=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
  base=$(grep -o 'listening on http://[0-9.:]*' <<<"$clean" | head -1 | sed 's/listening on //')
  token=$(grep -o 'Bearer demo-alice-[0-9a-f]*' <<<"$clean" | head -1 | sed 's/Bearer //')
  [ -n "$base" ] && [ -n "$token" ] || { cat "$log" >&2; exit 1; }
  grep -E "seeded|cache warmed|critical caches" <<<"$clean" | sed 's/^/  server: /' >&2 || true
}

ai_text="Big news today: we benchmarked the new release against the old one on real traffic, \
and the results surprised the whole team. Requests are faster, memory use is lower, and the \
configuration is simpler than before. Here is what we measured, what we changed, and what we \
would do differently next time. First, we cached the expensive analytics queries and warmed \
them at start-up. Second, we compressed large responses only, because gzip costs more than it \
saves on small ones. Third, we timed every database query so the slow ones show up on their \
own. The result: a service that answers most requests from memory and still tells you exactly \
where its time goes. What would you measure next? Tell us in the comments! 🚀 #rust #performance"
ai_body=$(printf '{"text": "%s"}' "$ai_text")

# name|method|path|auth|body
endpoints=(
  "post-dynamics|GET|/analytics/demo/post-dynamics?hours=24||"
  "top-posts|GET|/analytics/demo/top-posts?period=7d&limit=10||"
  "best-times|GET|/analytics/demo/best-times||"
  "channel-metrics|GET|/analytics/channels/1/metrics||"
  "channels|GET|/channels|auth|"
  "ai-analyze|POST|/ai/analyze||ai"
)

declare -A rps p50 p99 size

# measure KEY METHOD PATH AUTH BODY GZIP [INM]: one warm-up request, then wrk. With INM
# set, the warm-up learns the ETag and wrk sends it in If-None-Match (expecting 304s).
measure() {
  local key=$1 method=$2 path=$3 auth=$4 body=$5 gzip=$6 inm=${7:-}
  local -a curl_args=(-s -o /dev/null -w '%{http_code} %{size_download}' -X "$method")
  local env_auth="" env_body="" env_gzip="" env_inm="" want=200
  if [ -n "$auth" ]; then curl_args+=(-H "Authorization: Bearer $token"); env_auth=$token; fi
  if [ -n "$body" ]; then curl_args+=(-H 'Content-Type: application/json' -d "$ai_body"); env_body=$ai_body; fi
  if [ -n "$gzip" ]; then curl_args+=(-H 'Accept-Encoding: gzip'); env_gzip=1; fi
  if [ -n "$inm" ]; then
    env_inm=$(curl "${curl_args[@]}" -D - "$base$path" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
    [ -n "$env_inm" ] || { echo "$path has no ETag" >&2; exit 1; }
    curl_args+=(-H "If-None-Match: $env_inm"); want=304
  fi
  local warm
  warm=$(curl "${curl_args[@]}" "$base$path")
  if [ "${warm%% *}" != "$want" ]; then
    echo "warm-up of $path answered ${warm%% *}" >&2
    [ -n "${DEFAULTS:-}" ] || exit 1
    failed=$((failed + 1))
  fi
  size[$key]=${warm##* }
  local out
  out=$(WRK_METHOD=$method WRK_AUTH=$env_auth WRK_BODY=$env_body WRK_GZIP=$env_gzip WRK_IF_NONE_MATCH=$env_inm \
    wrk -t"$threads" -c"${conns:-$connections}" -d"${duration}s" --timeout 30s -s "$here/wrk.lua" "$base$path")
  local line
  line=$(grep '^RESULT' <<<"$out")
  read -r _ r l50 l99 errors total <<<"$line"
  if [ "$errors" != 0 ]; then
    echo "$key: $errors of $total requests failed (non-2xx or socket error)" >&2
    [ -n "${DEFAULTS:-}" ] || exit 1
    failed=$((failed + errors))
  fi
  rps[$key]=$r
  p50[$key]=$l50
  p99[$key]=$l99
  printf '  %-24s %10s req/s  p50 %8s us  p99 %8s us\n' "$key" "$r" "$l50" "$l99" >&2
}

echo "cached run (warm caches), ${duration}s per endpoint, $connections connections:" >&2
if [ -n "${DEFAULTS:-}" ]; then start_server cached; else start_server cached --rate-limit 0; fi
measure "health" GET /health "" "" ""
for e in "${endpoints[@]}"; do
  IFS='|' read -r name method path auth body <<<"$e"
  measure "$name" "$method" "$path" "$auth" "$body" ""
done
for e in "${endpoints[@]}"; do
  IFS='|' read -r name method path auth body <<<"$e"
  measure "$name+gzip" "$method" "$path" "$auth" "$body" gzip
done
for e in "${endpoints[@]}"; do
  IFS='|' read -r name method path auth body <<<"$e"
  [ "$method" = GET ] || continue
  measure "$name+304" "$method" "$path" "$auth" "$body" gzip inm
  # Bytes on the wire of the brotli variant (one request).
  declare -a br_args=(-s -o /dev/null -w '%{size_download}' -H 'Accept-Encoding: br')
  if [ -n "$auth" ]; then br_args+=(-H "Authorization: Bearer $token"); fi
  size[$name+br]=$(curl "${br_args[@]}" "$base$path")
done
stop_server

echo "uncached run (--no-cache):" >&2
start_server uncached --no-cache --rate-limit 0
measure "health-nocache" GET /health "" "" ""
# Computed on every request, the demo endpoints sit behind their bulkheads
# (max_concurrent 1-2, max_wait 1 s), which shed what waits longer with `503 overloaded`:
# the uncached baseline uses as many connections as those can serve without shedding.
conns=$uncached_connections
for e in "${endpoints[@]}"; do
  IFS='|' read -r name method path auth body <<<"$e"
  measure "$name-nocache" "$method" "$path" "$auth" "$body" ""
done
unset conns
stop_server

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown)
echo
echo "wrk -t$threads -c$connections -d${duration}s on loopback (uncached endpoints: -c$uncached_connections); $(nproc) cores ($cpu); release build; SQLite seeded with the default dataset."
echo
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }
echo "| endpoint | cached req/s | p50 ms | p99 ms | uncached req/s | p50 ms | p99 ms | cached/uncached | gzip req/s | gzip p50 ms | gzip p99 ms | gzip/health | 304 req/s | 304/health | bytes plain/gzip/br |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '| /health | %s | %s | %s | %s | %s | %s | %s | - | - | - | - | - | - | %s |\n' \
  "${rps[health]}" "$(ms "${p50[health]}")" "$(ms "${p99[health]}")" \
  "${rps[health-nocache]}" "$(ms "${p50[health-nocache]}")" "$(ms "${p99[health-nocache]}")" \
  "$(ratio "${rps[health]}" "${rps[health-nocache]}")" "${size[health]}"
for e in "${endpoints[@]}"; do
  IFS='|' read -r name method path _ _ <<<"$e"
  printf '| %s %s | %s | %s | %s | %s | %s | %s | **%s** | %s | %s | %s | **%s** | %s | **%s** | %s/%s/%s |\n' \
    "$method" "${path%%\?*}" \
    "${rps[$name]}" "$(ms "${p50[$name]}")" "$(ms "${p99[$name]}")" \
    "${rps[$name-nocache]}" "$(ms "${p50[$name-nocache]}")" "$(ms "${p99[$name-nocache]}")" \
    "$(ratio "${rps[$name]}" "${rps[$name-nocache]}")" \
    "${rps[$name+gzip]}" "$(ms "${p50[$name+gzip]}")" "$(ms "${p99[$name+gzip]}")" \
    "$(pct "${rps[$name+gzip]}" "${rps[health]}")" \
    "${rps[$name+304]:--}" "$(if [ -n "${rps[$name+304]:-}" ]; then pct "${rps[$name+304]}" "${rps[health]}"; else echo -; fi)" \
    "${size[$name]}" "${size[$name+gzip]}" "${size[$name+br]:--}"
done
if [ "$failed" != 0 ]; then
  echo "$failed requests failed (DEFAULTS=1: refused by the default budget)" >&2
  exit 1
fi
