#!/usr/bin/env bash
# `npm run build` (and the start, test and bench scripts): compiles the TypeScript into dist/
# with tsc (stopping on type errors), then the optional native addon native/malloc_trim.c into
# dist/native/ (see src/proxy/heap-trim.ts). The addon needs a C compiler and Node's headers;
# without them, or if it does not compile, Walnut is built and runs as well, only memory freed
# by a crowd of clients that has left stays in the process. dist/native/malloc_trim.status
# says which (the tests read it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "build: tsc -p tsconfig.json"
npx tsc -p tsconfig.json

mkdir -p dist/native
rm -f dist/native/malloc_trim.node
status=dist/native/malloc_trim.status
skip() {
  echo "build: $1: dist/native/malloc_trim.node not built (Walnut runs without malloc_trim)" >&2
  echo "skipped: $1" >"$status"
}

cc="${CC:-cc}"
# The headers of the node that runs Walnut (a shim or symlink on PATH resolved to it).
node_include="$(dirname "$(dirname "$(node -p 'require("fs").realpathSync(process.execPath)')")")/include/node"
flags=(-O2 -Wall -Wextra -shared -fPIC -DNODE_GYP_MODULE_NAME=malloc_trim)
# macOS leaves the napi_* symbols to be found in the node binary at load time.
if [ "$(uname -s)" = Darwin ]; then flags+=(-undefined dynamic_lookup); fi

if ! command -v "$cc" >/dev/null 2>&1; then
  skip "no C compiler ($cc)"
elif [ ! -f "$node_include/node_api.h" ]; then
  skip "no Node headers in $node_include"
elif "$cc" "${flags[@]}" -I"$node_include" -o dist/native/malloc_trim.node native/malloc_trim.c; then
  echo "build: $cc native/malloc_trim.c -> dist/native/malloc_trim.node"
  echo "built" >"$status"
else
  rm -f dist/native/malloc_trim.node
  skip "$cc failed on native/malloc_trim.c (its messages are above)"
fi
