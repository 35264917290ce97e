#!/usr/bin/env bash
# `npm start`: installs what is missing, builds into dist/, and runs the demo
# (scripts/demo.ts). Pass --once (`npm start -- --once`) to run it without waiting for Ctrl-C.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
echo "demo: tsc -p tsconfig.json"
npx tsc -p tsconfig.json
exec node dist/scripts/demo.js "$@"
