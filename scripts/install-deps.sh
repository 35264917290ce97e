#!/usr/bin/env bash
# Installs what the tests, benchmarks and demo need: the backend servers and reference proxy
# (redis-server, memcached, nutcracker = C twemproxy) from Debian, and the Node dependencies.
# Idempotent and fast when nothing is missing; prints one line per action it takes.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS=(redis-server memcached nutcracker redis-cli redis-benchmark memccapable)
PACKAGES=(redis-server memcached nutcracker redis-tools libmemcached-tools)

# nutcracker installs into /usr/sbin, which is not on every user's PATH.
have_tool() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]
}

acted=0
missing=()
for tool in "${TOOLS[@]}"; do
  have_tool "$tool" || missing+=("$tool")
done

if [ "${#missing[@]}" -gt 0 ]; then
  acted=1
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: missing ${missing[*]}; need root or sudo to run apt-get install ${PACKAGES[*]}" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing ${missing[*]}; apt-get not found, install ${PACKAGES[*]} by hand" >&2
    exit 1
  fi
  echo "install-deps: missing ${missing[*]}; running apt-get update"
  if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq; then
    echo "install-deps: apt-get update failed; cannot install ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: apt-get install ${PACKAGES[*]}"
  if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"; then
    echo "install-deps: apt-get install failed; still missing ${missing[*]}" >&2
    exit 1
  fi

  # The Debian packages start system services on the default ports. Tests never use those
  # ports, but an unexpected redis/memcached on the machine is confusing, so stop them.
  # systemctl may be absent or non-functional in containers: try both ways, ignore failures.
  for svc in redis-server memcached nutcracker; do
    echo "install-deps: stopping and disabling the $svc system service"
    "${SUDO[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
    "${SUDO[@]}" service "$svc" stop >/dev/null 2>&1 || true
  done

  still=()
  for tool in "${TOOLS[@]}"; do
    have_tool "$tool" || still+=("$tool")
  done
  if [ "${#still[@]}" -gt 0 ]; then
    echo "install-deps: after apt-get install, still missing ${still[*]}" >&2
    exit 1
  fi
fi

# npm ci writes node_modules/.package-lock.json; if the lockfile changed since, reinstall.
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
  acted=1
  echo "install-deps: npm ci"
  npm ci --no-audit --no-fund
fi

if [ "$acted" -eq 0 ]; then
  echo "install-deps: servers and node_modules present, nothing to do"
fi
