/**
 * Every thread the event loop does not own (libuv's pool, where sharp decodes and resizes, and
 * the libvips threads it starts) runs at the lowered priority, so image work never competes
 * with the event loop on equal terms. Runs in a fresh process, whose threads are all its own.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { getPriority } from 'node:os';
import { describe, it } from 'node:test';

const linux = process.platform === 'linux';
const moduleUrl = new URL('../../src/thread-pool-priority.ts', import.meta.url).href;

describe('priority of the other threads', { skip: linux ? false : 'nice is per thread on Linux only' }, () => {
  it('lowers every thread but the event loop, the pool threads sharp runs on included; 0 changes nothing', () => {
    const script = `
      import sharp from 'sharp';
      import { getPriority } from 'node:os';
      import { readdirSync, readFileSync } from 'node:fs';
      const { lowerOtherThreads, threadNiceness } = await import(${JSON.stringify(moduleUrl)});
      const off = lowerOtherThreads(0);
      const untouched = [...threadNiceness()].filter(([tid, nice]) => tid !== process.pid && nice !== getPriority()).length;
      const first = lowerOtherThreads(6);
      const again = lowerOtherThreads(6);
      // sharp's pipeline runs on the pool; the libvips threads it starts inherit the pool's niceness
      const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#c33' } }).png().toBuffer();
      await sharp(png).resize(16, 16).raw().toBuffer();
      const nice = threadNiceness();
      const others = [...nice].filter(([tid]) => tid !== process.pid).map(([, n]) => n);
      const vips = readdirSync('/proc/self/task')
        .filter((t) => readFileSync('/proc/self/task/' + t + '/comm', 'utf8').startsWith('libvips'))
        .map((t) => nice.get(Number(t)));
      console.log(JSON.stringify({ off, untouched, first, again, others, vips, main: getPriority() }));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, UV_THREADPOOL_SIZE: '3' },
      encoding: 'utf8',
    });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
      off: { nice?: number; lowered: number; reason: string }; untouched: number;
      first: { nice: number; lowered: number }; again: { nice: number; lowered: number };
      others: number[]; vips: number[]; main: number;
    };
    const base = getPriority();
    const target = Math.min(19, base + 6);
    assert.deepEqual(r.off, { lowered: 0, reason: 'off (niceness 0)' });
    assert.equal(r.untouched, 0, 'before: every thread at the event loop priority');
    assert.equal(r.first.nice, target);
    assert.ok(r.first.lowered >= 3, `at least the 3 pool threads were lowered (got ${r.first.lowered})`);
    assert.deepEqual(r.again, { nice: target, lowered: 0 });
    assert.ok(r.vips.length > 0, 'libvips started its threads');
    assert.deepEqual(new Set(r.others), new Set([target]), 'every other thread, libvips included');
    assert.equal(r.main, base, 'the event loop keeps its priority');
  });
});
