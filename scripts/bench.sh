#!/usr/bin/env bash
# `npm run bench`: installs what is missing, builds into dist/ (scripts/build.sh, stopping on
# type errors), then runs the end-to-end benchmark (bench/e2e/run.ts): Walnut against C twemproxy
# and the servers themselves. Arguments go to the benchmark, e.g. `npm run bench -- --quick`;
# `npm run bench -- --help` lists them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

bash scripts/build.sh

# The idle-client test opens 10,000 connections from the harness to each proxy, and the
# proxies inherit our limit: ask for 65536 descriptors, or as many as the hard limit allows.
if ! ulimit -n 65536 2>/dev/null; then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
echo "bench: descriptor limit $(ulimit -n)"

exec node dist/bench/e2e/run.js "$@"
