#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456 node
// The `toklip` command (package.json "bin"). Runs the compiled CLI (dist/cli/run.js: the
// container image, an installed package) or, in a clone with its sources and dev dependencies,
// the TypeScript sources through tsx, so that `npx toklip` works without a build and never
// runs a stale dist/. The shebang sets the glibc malloc tunables of `npm start` and the image
// (src/engine/allocator.ts): decoded images reuse mapped pages.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const root = new URL('../', import.meta.url);
const sources = new URL('src/cli/run.ts', root);
const compiled = new URL('dist/cli/run.js', root);

function hasTsx() {
  try {
    createRequire(import.meta.url).resolve('tsx/esm/api');
    return true;
  } catch {
    return false;
  }
}

if (existsSync(sources) && hasTsx()) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  process.stderr.write('toklip: neither dist/cli/run.js nor the sources with tsx are present: run `npm install` (and `npm run build`)\n');
  process.exit(1);
}
