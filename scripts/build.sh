#!/usr/bin/env bash
# `npm run build` (and the start, test and bench scripts): compiles the TypeScript into dist/
# with tsc (stopping on type errors), then the optional native addon native/malloc_trim.c into
# dist/native/ (see src/proxy/heap-trim.ts). The addon needs a C compiler and Node's headers;
# without them Walnut is built and runs as well, only memory freed by a crowd of clients that
# has left stays in the process.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "build: tsc -p tsconfig.json"
npx tsc -p tsconfig.json

cc="${CC:-cc}"
node_include="$(dirname "$(dirname "$(command -v node)")")/include/node"
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build: no C compiler ($cc): dist/native/malloc_trim.node not built" >&2
elif [ ! -f "$node_include/node_api.h" ]; then
  echo "build: no Node headers in $node_include: dist/native/malloc_trim.node not built" >&2
else
  echo "build: $cc native/malloc_trim.c -> dist/native/malloc_trim.node"
  mkdir -p dist/native
  "$cc" -O2 -Wall -Wextra -Werror -shared -fPIC -DNODE_GYP_MODULE_NAME=malloc_trim \
    -I"$node_include" -o dist/native/malloc_trim.node native/malloc_trim.c
fi
