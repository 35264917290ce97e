#!/usr/bin/env bash
# Runs libmemcached's memccapable -a against memcached, nutcracker and Walnut (each in front of
# fresh memcached processes) and prints a per-test pass/fail table; see bench/memccapable.ts.
#   bash bench/memccapable.sh            print the table
#   bash bench/memccapable.sh --write    also update bench/results/memccapable.md
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh >&2
out=.build/memccapable
npx tsc -p tsconfig.json --outDir "$out" >&2 || true   # others' type errors must not block a run
test -f "$out/bench/memccapable.js" || { echo "memccapable: build failed" >&2; exit 1; }
exec node "$out/bench/memccapable.js" "$@"
