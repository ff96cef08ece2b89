#!/usr/bin/env bash
# Start the catalog-only Backstage backend in the background and wait until
# GET /.backstage/health/v1/readiness answers 200. Does NOT install: run
# ./install.sh first (start.sh fails fast if node_modules is not installed).
#
# Usage: start.sh [--port N] [--token T] [--log FILE] [--pid-file FILE]
# or env (flags win):
#   BACKSTAGE_PORT               (default 7007)
#   BACKSTAGE_TOKEN              static bearer token (default test-token-change-me; >= 8 chars, no spaces)
#   BACKSTAGE_LOG                log file     (default run/backend.log)
#   BACKSTAGE_PID_FILE           pid file     (default run/backend.pid)
#   BACKSTAGE_PROCESSING_SECONDS catalog.processingInterval (default 600, see app-config.yaml)
#   BACKSTAGE_DB_DIR             directory for persistent sqlite files; default in-memory
#   BACKSTAGE_STITCHING          `test` (default): also load app-config.test-stitching.yaml
#                                (stitcher polls every 100 ms); `default`: the catalog's own 1 s
#   BACKSTAGE_WATCH_PID          backend exits when this pid is gone (see index.js)
#   ORCHESTRATOR_PROVIDER_HOST   host:port of the one daemon this catalog may read from and
#                                proxy diagrams to (deploy/backstage/app-config.yaml); default
#                                127.0.0.1:1-65535: any loopback port may be read, no proxy
#   READY_TIMEOUT                seconds to wait for readiness (default 120)
# Relative paths are taken relative to the caller's cwd.
# Exit 0 when ready (prints "ready: <url> after <s> s"); non-zero with the log tail otherwise.
set -euo pipefail
CALLER_CWD=$(pwd)
cd "$(dirname "$0")"
HERE=$(pwd)

PORT=${BACKSTAGE_PORT:-7007}
TOKEN=${BACKSTAGE_TOKEN:-test-token-change-me}
LOG=${BACKSTAGE_LOG:-}
PIDFILE=${BACKSTAGE_PID_FILE:-}
while [[ $# -gt 0 ]]; do
  case $1 in
    --port) PORT=$2; shift 2 ;;
    --token) TOKEN=$2; shift 2 ;;
    --log) LOG=$2; shift 2 ;;
    --pid-file) PIDFILE=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "start.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
abs() { if [[ $1 = /* ]]; then echo "$1"; else echo "$CALLER_CWD/$1"; fi; }
if [[ -z $LOG ]]; then mkdir -p run; LOG=$HERE/run/backend.log; else LOG=$(abs "$LOG"); fi
if [[ -z $PIDFILE ]]; then mkdir -p run; PIDFILE=$HERE/run/backend.pid; else PIDFILE=$(abs "$PIDFILE"); fi
mkdir -p "$(dirname "$LOG")" "$(dirname "$PIDFILE")"
export BACKSTAGE_PORT=$PORT BACKSTAGE_TOKEN=$TOKEN

if [[ ! -f node_modules/.install-stamp ]]; then
  echo "start.sh: not installed; run $HERE/install.sh first" >&2; exit 1
fi
if [[ -n ${BACKSTAGE_DB_DIR:-} ]]; then
  DBDIR=$(abs "$BACKSTAGE_DB_DIR"); mkdir -p "$DBDIR"
  export APP_CONFIG_backend_database_connection="{\"directory\":\"$DBDIR\"}"
fi
if [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "start.sh: already running: pid $(cat "$PIDFILE") (pid file $PIDFILE)" >&2; exit 1
fi

# The configuration: the test-only base, the documented Backstage snippet of deploy/ (its token
# and its daemon host from the environment: every daemon of the tests listens on a loopback
# port of its own), plus the test-only stitching interval unless asked not to. The default
# host, a port range, is fine for backend.reading.allow but no URL: the snippet's proxy route
# is then skipped (proxy.skipInvalidProxies in the test-only base).
export ORCHESTRATOR_PROVIDER_TOKEN=$TOKEN
export ORCHESTRATOR_PROVIDER_HOST=${ORCHESTRATOR_PROVIDER_HOST:-127.0.0.1:1-65535}
CONFIG=(--config app-config.yaml --config ../../../deploy/backstage/app-config.yaml)
case ${BACKSTAGE_STITCHING:-test} in
  test) CONFIG+=(--config app-config.test-stitching.yaml) ;;
  default) ;;
  *) echo "start.sh: BACKSTAGE_STITCHING must be 'test' or 'default', not '$BACKSTAGE_STITCHING'" >&2; exit 2 ;;
esac

now() { date +%s.%N; }
t0=$(now)
# No setsid: the backend stays in the caller's process group, so Ctrl-C on
# `cargo test` stops it too.
nohup node index.js "${CONFIG[@]}" >"$LOG" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$PIDFILE"

status() {
  if command -v curl >/dev/null; then
    curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT/.backstage/health/v1/readiness" || true
  else
    node -e "fetch('http://127.0.0.1:$PORT/.backstage/health/v1/readiness').then(r=>console.log(r.status),()=>console.log(0))"
  fi
}
fail() {
  echo "start.sh: $1; last log lines ($LOG):" >&2
  tail -n 40 "$LOG" >&2 || true
  exit 1
}
deadline=$(( $(date +%s) + ${READY_TIMEOUT:-120} ))
until [[ $(status) == 200 ]]; do
  if ! kill -0 "$PID" 2>/dev/null; then
    rm -f "$PIDFILE"; fail "backend (pid $PID) exited during startup"
  fi
  if (( $(date +%s) > deadline )); then
    kill -KILL "$PID" 2>/dev/null || true; rm -f "$PIDFILE"
    fail "backend not ready after ${READY_TIMEOUT:-120} s (killed pid $PID)"
  fi
  sleep 0.1
done
echo "ready: http://127.0.0.1:$PORT pid $PID after $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}') s (log $LOG)"
