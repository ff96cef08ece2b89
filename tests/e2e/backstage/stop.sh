#!/usr/bin/env bash
# Stop a backend started by start.sh, by its pid file only:
# SIGTERM, then SIGKILL if it is still alive after 10 s. Removes the pid file.
#
# Usage: stop.sh [--pid-file FILE]   (or env BACKSTAGE_PID_FILE; default run/backend.pid)
set -euo pipefail
CALLER_CWD=$(pwd)
cd "$(dirname "$0")"
PIDFILE=${BACKSTAGE_PID_FILE:-}
while [[ $# -gt 0 ]]; do
  case $1 in
    --pid-file) PIDFILE=$2; shift 2 ;;
    *) echo "stop.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z $PIDFILE ]]; then PIDFILE=$(pwd)/run/backend.pid
elif [[ $PIDFILE != /* ]]; then PIDFILE=$CALLER_CWD/$PIDFILE; fi

[[ -f $PIDFILE ]] || { echo "stop.sh: no pid file $PIDFILE"; exit 0; }
PID=$(cat "$PIDFILE")
[[ $PID =~ ^[0-9]+$ ]] || { echo "stop.sh: bad pid file $PIDFILE" >&2; rm -f "$PIDFILE"; exit 1; }
if kill -0 "$PID" 2>/dev/null; then
  kill -TERM "$PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$PID" 2>/dev/null; then
    echo "stop.sh: pid $PID did not exit 10 s after TERM, sending KILL"
    kill -KILL "$PID" 2>/dev/null || true
  fi
  echo "stop.sh: stopped pid $PID"
else
  echo "stop.sh: pid $PID not running"
fi
rm -f "$PIDFILE"
