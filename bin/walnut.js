#!/usr/bin/env node
// Walnut's launcher: runs the compiled entry point dist/src/cli.js, or says how to build it.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('walnut: not built yet: run `npm run build`\n');
  process.exit(1);
}
await import(entry.href);
