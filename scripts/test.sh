#!/usr/bin/env bash
# `npm test`: installs what is missing, builds everything into dist/ (scripts/build.sh, stopping
# on type errors), then runs the compiled tests with node's built-in runner.
#   scripts/test.sh              unit tests, then integration tests (one run, one summary)
#   scripts/test.sh unit         unit tests only
#   scripts/test.sh integration  integration tests only
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

tier="${1:-all}"
case "$tier" in
  all) tiers=(unit integration) ;;
  unit | integration) tiers=("$tier") ;;
  *)
    echo "usage: scripts/test.sh [unit|integration]" >&2
    exit 2
    ;;
esac

bash scripts/install-deps.sh

# A clean dist/ so compiled tests whose sources were deleted or renamed cannot run.
echo "test: rm -rf dist && scripts/build.sh"
rm -rf dist
bash scripts/build.sh

# Node 20's --test does not expand globs itself, so list the files here (sorted for a stable
# order; node starts them in the order given, so unit tests go first).
files=()
for t in "${tiers[@]}"; do
  if [ -d "dist/test/$t" ]; then
    while IFS= read -r f; do
      files+=("$f")
    done < <(find "dist/test/$t" -type f -name '*.test.js' | LC_ALL=C sort)
  fi
done

if [ "${#files[@]}" -eq 0 ]; then
  echo "test: no compiled *.test.js files under dist/test/{${tiers[*]}}" >&2
  exit 1
fi

echo "test: node --test on ${#files[@]} files (${tiers[*]})"
exec node --test --test-concurrency=2 --test-timeout=120000 "${files[@]}"
