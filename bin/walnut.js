#!/usr/bin/env -S node --max-semi-space-size=4 --single-threaded-gc --no-allocation-site-pretenuring --expose-gc
// Walnut's launcher: runs the compiled entry point dist/src/cli.js, or says how to build it.
// --max-semi-space-size=4 (MB) caps V8's young generation: with the default (16 MB per semi
// space) a burst of 10,000 clients leaves ~30 MB more RSS behind after they leave, and later
// bursts add to it; with 4 MB RSS stays within the first burst's level. Smaller (2 MB) would
// be flatter still but costs CPU where requests are split (MSET over 4 servers, -P 16: 7.6-8.4
// us per request against 5.6-6.2 with 4 MB).
// --single-threaded-gc keeps the garbage collector on the event loop's thread. A proxy's heap is
// small and its garbage young, so helper threads gain little, while on a busy machine (the
// proxy next to its clients and servers) waking them costs more than it saves: measured on 2
// cores at 50 clients x 1 request, CPU per request fell from ~14 to ~12 us and p99 from ~1.15
// to ~0.8 ms.
// --no-allocation-site-pretenuring: V8 watches which allocation sites' objects survive young
// collections, and from a site whose objects all survived one sample it allocates in the old
// generation from then on. Under a deep pipeline nearly every request in flight survives the
// collection that samples it, so the sites of the request path were switched, at random, for
// the rest of the process's life: every collection then became a full one (GC 44% of the CPU
// against 6%), and MSET over 4 servers cost 10-13 us per request instead of 5.5 in about half
// of the processes started. A proxy's request objects die young by design.
// --expose-gc lets Walnut run full collections after a crowd of clients has left, so that
// memory goes back down (src/proxy/heap-trim.ts).
// scripts/lib/processes.ts uses the same flags.
//
// `node bin/walnut.js …` runs this file without its #! line, so without these flags, and
// nothing else would show it: Walnut runs, only with more CPU per request and more memory
// kept. So the launcher says so, unless the command only prints (-h, -V, -D, -t).
import { existsSync, readFileSync } from 'node:fs';

const entry = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('walnut: not built yet: run `npm run build`\n');
  process.exit(1);
}

const shebang = readFileSync(new URL(import.meta.url), 'utf8').split('\n', 1)[0];
const flags = shebang.slice(shebang.indexOf(' node ') + ' node '.length).split(' ');
const missing = flags.filter((flag) => !process.execArgv.includes(flag));
/** An option that makes walnut print something and exit: -h, -V, -D, -t, alone or grouped. */
const printsOnly = (arg) => /^--(help|version|describe-stats|test-conf)$/.test(arg) || /^-[A-Za-z]*[hVDt]/.test(arg);
if (missing.length > 0 && !process.argv.slice(2).some(printsOnly)) {
  process.stderr.write(
    `walnut: node was started without ${missing.join(' ')}: run ./bin/walnut.js itself, whose #! line passes ` +
      'them, or give them to node (README, "Running it in production")\n',
  );
}
await import(entry.href);
