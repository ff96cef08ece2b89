#!/usr/bin/env bash
# Idempotent install of the scaffolder test backend and the form stack (this folder).
#
# Runs `npm ci` only when node_modules is missing or stale: node_modules/.install-stamp holds a
# hash of package.json, package-lock.json, the stand-in package's package.json and the Node ABI
# (better-sqlite3 is a native module: another Node version forces a reinstall). Always checks
# that better-sqlite3 loads. Same scheme as ../backstage/install.sh, for this folder's pins.
#
# Env: FORCE_INSTALL=1 reinstall even when the stamp matches.
# Safe to run concurrently from several processes (flock, when available).
set -euo pipefail
cd "$(dirname "$0")"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "install.sh: '$tool' not found on PATH" >&2; exit 127; }
done

if command -v flock >/dev/null && [[ -z ${SCAFFOLDER_INSTALL_LOCKED:-} ]]; then
  export SCAFFOLDER_INSTALL_LOCKED=1
  exec flock .install.lock "$(pwd)/$(basename "$0")" "$@"
fi

# node-gyp compiles better-sqlite3 from source (its prebuilt download cannot reach GitHub) and
# would fetch Node headers from nodejs.org otherwise; Debian's nodejs ships them.
if [[ -z ${npm_config_nodedir:-} && -f /usr/include/node/node.h ]]; then
  export npm_config_nodedir=/usr
fi

STAMP=node_modules/.install-stamp
want=$( { cat package.json package-lock.json vendor/orchestrator-common/package.json;
          node -p '`${process.version} abi=${process.versions.modules} ${process.platform}-${process.arch}`'; } | sha256sum | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)

check_sqlite() { node -e "new (require('better-sqlite3'))(':memory:').close()" 2>/dev/null; }

if [[ $want != "$have" || ${FORCE_INSTALL:-0} == 1 ]]; then
  t0=$(date +%s.%N)
  echo "install.sh: npm ci (node_modules missing or stale) in $(pwd)" >&2
  rm -f "$STAMP"
  npm ci --no-audit --no-fund --loglevel=error >&2
  if ! check_sqlite; then
    echo "install.sh: better-sqlite3 failed to load after npm ci; rebuilding" >&2
    npm rebuild better-sqlite3 >&2
    check_sqlite || { echo "install.sh: better-sqlite3 still fails to load" >&2; node -e "require('better-sqlite3')" >&2 || true; exit 1; }
  fi
  echo "$want" >"$STAMP"
  echo "install.sh: done in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s, node_modules $(du -sh node_modules | cut -f1)" >&2
elif ! check_sqlite; then
  echo "install.sh: better-sqlite3 failed to load; rebuilding" >&2
  npm rebuild better-sqlite3 >&2
  check_sqlite || { echo "install.sh: better-sqlite3 still fails to load; try FORCE_INSTALL=1" >&2; exit 1; }
fi
