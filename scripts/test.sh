#!/usr/bin/env bash
# Every check and test of the workspace, as CI runs them (.ci/run calls this script).
#
# Installs what the tests need when it is missing (Debian/Ubuntu packages), then runs
# rustfmt, clippy with warnings as errors, and the whole test suite:
#   - redis-server: the Redis tests start their own instances on free loopback ports
#     (REDIS_SERVER=/path/to/redis-server uses another binary and skips the install).
#     The package also starts a system instance, which is stopped again: the tests do
#     not use it.
#   - chromium and chromium-driver: the page tests drive headless Chromium over
#     WebDriver (CHROMIUM=/path/to/chromium and CHROMEDRIVER=/path/to/chromedriver use
#     other binaries and skip the install).
#   - prometheus (with promtool): example-api/tests/grafana.rs checks the shipped Grafana
#     dashboard against a real Prometheus on loopback (PROMETHEUS=/path/to/prometheus and
#     PROMTOOL=/path/to/promtool use other binaries and skip the install). The package
#     also starts a system instance, which is stopped again: the test starts its own.
#   No test needs wrk (only example-api/bench/load.sh does).
# After the cargo tests, scripts/schemathesis.sh checks example-api's OpenAPI description
# against the live server with schemathesis (installed into a virtual environment under
# target/ when missing; needs python3 with venv).
#
# Usage: scripts/test.sh        (from anywhere; needs root or sudo only to install)
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "scripts/test.sh: need root (or sudo) to run: $*" >&2
    return 1
  fi
}

apt_updated=""
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: $1 is missing and this is not a Debian-like system: install $1" >&2
    exit 1
  fi
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  echo "scripts/test.sh: installing $*" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

redis_server=${REDIS_SERVER:-redis-server}
if ! command -v "$redis_server" >/dev/null 2>&1; then
  if [ -n "${REDIS_SERVER:-}" ]; then
    echo "scripts/test.sh: REDIS_SERVER=$REDIS_SERVER is not an executable" >&2
    exit 1
  fi
  apt_install redis-server
  # The package starts a system instance on port 6379; the tests start their own.
  as_root service redis-server stop >/dev/null 2>&1 ||
    as_root systemctl stop redis-server >/dev/null 2>&1 || true
fi

browser=()
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  browser+=(chromium)
fi
if [ -z "${CHROMEDRIVER:-}" ] && ! command -v chromedriver >/dev/null 2>&1; then
  browser+=(chromium-driver)
fi
if [ ${#browser[@]} -gt 0 ]; then
  apt_install "${browser[@]}"
fi

if [ -z "${PROMETHEUS:-}" ] && ! command -v prometheus >/dev/null 2>&1; then
  apt_install prometheus
  # The package starts a system instance on port 9090; the test starts its own.
  as_root service prometheus stop >/dev/null 2>&1 ||
    as_root systemctl stop prometheus >/dev/null 2>&1 || true
fi

if [ -z "${SCHEMATHESIS:-}" ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  apt_install python3 python3-venv
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo test --workspace --all-features
scripts/schemathesis.sh
