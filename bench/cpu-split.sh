#!/usr/bin/env bash
# Where Walnut's CPU goes at GET -P 16: its own JavaScript, the write syscalls (the kernel's
# loopback send, the receiver's TCP work included), garbage collection, and the rest (reads,
# epoll, libuv). Runs Walnut with --cpu-prof in front of N local redis-servers, drives it with
# redis-benchmark, reads its utime+stime from /proc and sorts the profile's samples.
#
#   bash bench/cpu-split.sh [servers (default 4)] [requests per run (default 1000000)]
#
# Needs a build (npm run build) and redis-server / redis-benchmark; uses the loopback ports
# from CPU_SPLIT_PORT (default 21000) up. Run it on a quiet machine: it reports shares, and
# other load on the cores stretches every one of them.
set -euo pipefail

servers=${1:-4}
requests=${2:-1000000}
base=${CPU_SPLIT_PORT:-21000}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/walnut-cpu-split-XXXXXX)
walnut_pid=''

cleanup() {
  [ -n "$walnut_pid" ] && kill "$walnut_pid" 2>/dev/null || true
  for ((i = 1; i <= servers; i++)); do redis-cli -p $((base + i)) shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

[ -f "$repo/dist/src/cli.js" ] || { echo "cpu-split: no build: run npm run build first" >&2; exit 1; }

listen=$base
{
  echo "split:"
  echo "  listen: 127.0.0.1:$listen"
  echo "  hash: fnv1a_64"
  echo "  distribution: ketama"
  echo "  redis: true"
  echo "  preconnect: true"
  echo "  servers:"
  for ((i = 1; i <= servers; i++)); do
    redis-server --port $((base + i)) --save '' --appendonly no --daemonize yes --logfile "$work/redis-$i.log"
    echo "   - 127.0.0.1:$((base + i)):1"
  done
} > "$work/split.yml"

# The launcher's node flags (bin/walnut.js), plus the profiler.
node --max-semi-space-size=4 --single-threaded-gc --no-allocation-site-pretenuring --expose-gc \
  --cpu-prof --cpu-prof-dir="$work/prof" "$repo/dist/src/cli.js" -c "$work/split.yml" -s $((base + 100)) \
  > "$work/walnut.log" 2>&1 &
walnut_pid=$!
for _ in $(seq 50); do redis-cli -p "$listen" ping >/dev/null 2>&1 && break; sleep 0.1; done

read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$walnut_pid/stat")
for run in 1 2 3; do
  printf 'run %d: ' "$run"
  redis-benchmark -p "$listen" -c 50 -P 16 -n "$requests" -t get -q -r 100000 2>&1 | tr '\r' '\n' | grep 'requests per' | tail -1
done
read -r u2 s2 < <(awk '{print $14, $15}' "/proc/$walnut_pid/stat")
ticks=$(getconf CLK_TCK)
kill -TERM "$walnut_pid"
wait "$walnut_pid" || true
walnut_pid=''

node - "$work/prof" $((u2 - u1)) $((s2 - s1)) "$ticks" $((3 * requests)) <<'EOF'
const fs = require('node:fs');
const [dir, utime, stime, ticks, requests] = process.argv.slice(2);
const file = fs.readdirSync(dir)[0];
const profile = JSON.parse(fs.readFileSync(`${dir}/${file}`, 'utf8'));
const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
const ms = { js: 0, write: 0, gc: 0, startup: 0 };
profile.samples.forEach((id, i) => {
  const { functionName: name, url } = frames.get(id);
  const t = (profile.timeDeltas[i] ?? 0) / 1000;
  if (name === '(idle)' || name === '(program)') return; // reads, epoll, libuv: "the rest" below
  if (name === 'writeBuffer' || name === 'writev' || name === 'writeUtf8String') ms.write += t;
  else if (name === '(garbage collector)') ms.gc += t;
  else if (url === '' || url.startsWith('node:') || /\/(node_modules|internal)\//.test(url)) {
    // Node's own JavaScript: module loading at start, net and timers under load.
    if (/loader|bootstrap|compile|readFile|esm/.test(`${url} ${name}`)) ms.startup += t;
    else ms.js += t;
  } else ms.js += t;
});
const cpuMs = ((Number(utime) + Number(stime)) * 1000) / Number(ticks);
const rest = cpuMs - ms.js - ms.write - ms.gc;
const pct = (x) => `${((100 * x) / cpuMs).toFixed(0)}%`;
const us = (x) => ((1000 * x) / Number(requests)).toFixed(2);
console.log(`Walnut CPU: ${cpuMs.toFixed(0)} ms for ${requests} requests, ${us(cpuMs)} µs each ` +
  `(user ${us((Number(utime) * 1000) / Number(ticks))}, sys ${us((Number(stime) * 1000) / Number(ticks))})`);
console.log(`  JavaScript          ${ms.js.toFixed(0).padStart(6)} ms  ${pct(ms.js)}`);
console.log(`  write syscalls      ${ms.write.toFixed(0).padStart(6)} ms  ${pct(ms.write)}`);
console.log(`  garbage collection  ${ms.gc.toFixed(0).padStart(6)} ms  ${pct(ms.gc)}`);
console.log(`  the rest (reads, epoll, libuv)  about ${rest.toFixed(0)} ms  ${pct(rest)}`);
console.log(`With JavaScript and GC free, CPU per request would be x${((rest + ms.write) / cpuMs).toFixed(2)} of this.`);
EOF
