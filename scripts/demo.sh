#!/usr/bin/env bash
# `npm start`: installs what is missing, builds into dist/ (scripts/build.sh), and runs the demo
# (scripts/demo.ts). Pass --once (`npm start -- --once`) to run it without waiting for Ctrl-C.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
bash scripts/build.sh
exec node dist/scripts/demo.js "$@"
