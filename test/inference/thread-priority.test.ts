/**
 * Worker threads lower their own scheduling priority and only theirs (Linux: nice is per
 * thread): the inference worker before it creates its sessions, so that ONNX Runtime's intra-op
 * threads inherit it, while the event loop keeps its priority.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { WorkerPool } from '../../src/inference/pool.js';
import type { WorkerModelSpec } from '../../src/inference/protocol.js';
import { lowerThreadPriority } from '../../src/thread-priority.js';
import { testLogger } from '../helpers/silent-logger.js';

const linux = process.platform === 'linux';

/** Niceness of every thread of this process, by thread id (/proc/self/task/TID/stat, field 19). */
function threadNiceness(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    out.set(Number(tid), Number(fields[16]));
  }
  return out;
}

describe('thread priority', { skip: linux ? false : 'nice is per thread on Linux only' }, () => {
  it('lowers the calling worker thread only, never below 19; 0 changes nothing', async () => {
    const base = getPriority();
    assert.equal(lowerThreadPriority(0), undefined);
    const source = `
      const { parentPort } = require('node:worker_threads');
      const { getPriority } = require('node:os');
      (async () => {
        // Worker threads cannot load .ts through --import tsx on Node 20: register it here.
        (await import('tsx/esm/api')).register();
        const { lowerThreadPriority } = await import(${JSON.stringify(new URL('../../src/thread-priority.ts', import.meta.url).href)});
        const first = lowerThreadPriority(4);
        const capped = lowerThreadPriority(100);
        parentPort.postMessage({ first, capped, now: getPriority() });
      })();`;
    const worker = new Worker(source, { eval: true });
    const reply = await new Promise<{ first: number; capped: number; now: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    assert.deepEqual(reply, { first: base + 4, capped: 19, now: 19 });
    assert.equal(getPriority(), base, 'the main thread keeps its priority');
  });

  it('an inference worker and the ONNX Runtime threads it starts run at the lowered priority; the event loop does not', async () => {
    const dir = join(import.meta.dirname, '..', 'fixtures', 'bundles', 'tiny-64');
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const textEncoder = manifest.graphs.text_encoder;
    const model: WorkerModelSpec = {
      id: 'tiny-64',
      graphs: { text_encoder: { path: join(dir, 'text_encoder.onnx'), inputs: textEncoder.inputs, outputs: textEncoder.outputs } },
      imageSize: manifest.image_size,
      numTokens: manifest.num_tokens,
      textContextLength: manifest.text.context_length,
      mean: manifest.preprocessing.mean,
      std: manifest.preprocessing.std,
    };
    const base = getPriority();
    const before = new Set(threadNiceness().keys());
    const pool = await WorkerPool.start({
      size: 1,
      init: {
        models: [model],
        device: { provider: 'cpu', reason: 'test' },
        intraOpThreads: 3,
        intraOpSpinning: false,
        nice: 3,
      },
      log: testLogger(),
    });
    try {
      const niceness = threadNiceness();
      const lowered = [...niceness].filter(([tid, nice]) => !before.has(tid) && nice === Math.min(19, base + 3));
      // The worker thread itself and ONNX Runtime's 2 pool threads (3 intra-op threads = the caller + 2).
      assert.ok(lowered.length >= 3, `threads at nice ${base + 3}: ${lowered.length} of ${JSON.stringify([...niceness])}`);
      assert.equal(niceness.get(process.pid), base, 'the main thread keeps its priority');
    } finally {
      await pool.close();
    }
  });
});
