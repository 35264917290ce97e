#!/usr/bin/env -S node --max-semi-space-size=2
// Walnut's launcher: runs the compiled entry point dist/src/cli.js, or says how to build it.
// --max-semi-space-size=2 (MB) caps V8's young generation: with the default (16 MB per semi
// space) a burst of 10,000 clients leaves ~30 MB more RSS behind after they leave and each
// later burst adds to it; with 2 MB memory returns to the same level burst after burst, at no
// measurable CPU cost per request (bench/README.md). scripts/lib/processes.ts uses the same flag.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('walnut: not built yet: run `npm run build`\n');
  process.exit(1);
}
await import(entry.href);
