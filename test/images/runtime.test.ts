/**
 * The decoder block list is process-wide libvips state: applying it opens a window in which
 * every loader is blocked, so only the thread that starts the preprocessing workers applies it
 * and the workers adopt it (src/images/runtime.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { fixtureInput } from './fixtures.js';

type Runtime = typeof import('../../src/images/runtime.js');

/** A fresh instance of runtime.ts (its own `hardened` flag), with sharp.block/unblock counted. */
async function freshRuntime(): Promise<{ runtime: Runtime; calls: string[]; restore(): void }> {
  const calls: string[] = [];
  const block = sharp.block;
  const unblock = sharp.unblock;
  sharp.block = (options) => {
    calls.push('block');
    block(options);
  };
  sharp.unblock = (options) => {
    calls.push('unblock');
    unblock(options);
  };
  const url = new URL(`../../src/images/runtime.ts?instance=${Math.random()}`, import.meta.url);
  const runtime = (await import(url.href)) as Runtime;
  return {
    runtime,
    calls,
    restore() {
      sharp.block = block;
      sharp.unblock = unblock;
    },
  };
}

test('applying the block list blocks every loader until the accepted ones are unblocked', async () => {
  const png = fixtureInput('rgb-37x50');
  const { runtime, restore } = await freshRuntime();
  try {
    runtime.hardenDecoders();
    assert.equal((await sharp(png).metadata()).format, 'png');
    // The window a thread opens when it applies the list while another thread decodes.
    sharp.block({ operation: ['VipsForeignLoad'] });
    await assert.rejects(sharp(png).raw().toBuffer());
  } finally {
    restore();
    const again = await freshRuntime();
    again.runtime.hardenDecoders();
    again.restore();
  }
  assert.equal((await sharp(png).metadata()).format, 'png');
});

test('the main thread applies the block list once; a worker started after it adopts it', async () => {
  const main = await freshRuntime();
  try {
    main.runtime.configureImageRuntime();
    main.runtime.configureImageRuntime();
    main.runtime.hardenDecoders();
    assert.deepEqual(main.calls, ['block', 'unblock']);
  } finally {
    main.restore();
  }
  const worker = await freshRuntime();
  try {
    worker.runtime.configureImageRuntime({ decodersHardenedByParent: true });
    worker.runtime.hardenDecoders();
    assert.deepEqual(worker.calls, [], 'a worker never re-applies the list');
  } finally {
    worker.restore();
  }
});
