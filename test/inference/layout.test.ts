/** The automatic worker layout (TOKLIP_WORKERS=0) and its explicit overrides. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_AUTO_WORKERS, SMALL_GRAPHS_BYTES, chooseWorkerLayout } from '../../src/inference/layout.js';
import { AUTO_MAX_BATCH, AUTO_MAX_BATCH_LARGE_CPU, chooseMaxBatch } from '../../src/scheduling/batch-policy.js';

const MiB = 2 ** 20;

describe('chooseWorkerLayout', () => {
  it('small graphs: one single-threaded worker per core', () => {
    const layout = chooseWorkerLayout(0, 0, 2, 16 * MiB);
    assert.deepEqual([layout.workers, layout.intraOpThreads], [2, 1]);
    assert.match(layout.reason, /automatic: 16 MiB of graphs/);
  });

  it(`small graphs on many cores: at most ${MAX_AUTO_WORKERS} workers, the cores split between them`, () => {
    const layout = chooseWorkerLayout(0, 0, 16, 16 * MiB);
    assert.deepEqual([layout.workers, layout.intraOpThreads], [MAX_AUTO_WORKERS, 16 / MAX_AUTO_WORKERS]);
    assert.deepEqual([chooseWorkerLayout(0, 0, 1, MiB).workers, chooseWorkerLayout(0, 0, 1, MiB).intraOpThreads], [1, 1]);
  });

  it('large graphs: one worker with every core (each worker would hold its own copy of the weights)', () => {
    const layout = chooseWorkerLayout(0, 0, 8, 4673 * MiB);
    assert.deepEqual([layout.workers, layout.intraOpThreads], [1, 8]);
    assert.match(layout.reason, /one worker with every core/);
    assert.equal(chooseWorkerLayout(0, 0, 8, SMALL_GRAPHS_BYTES).workers, 4, 'the threshold itself counts as small');
    assert.equal(chooseWorkerLayout(0, 0, 8, SMALL_GRAPHS_BYTES + 1).workers, 1);
  });

  it('automatic workers with set intra-op threads: as many workers as the cores allow', () => {
    assert.deepEqual(Object.values(chooseWorkerLayout(0, 2, 8, MiB)).slice(0, 2), [4, 2]);
    assert.deepEqual(Object.values(chooseWorkerLayout(0, 4, 2, MiB)).slice(0, 2), [1, 4], 'never fewer than one worker');
    assert.deepEqual(Object.values(chooseWorkerLayout(0, 3, 8, 4673 * MiB)).slice(0, 2), [1, 3]);
  });

  it('set workers win whatever the graph size; threads default to cores / workers', () => {
    assert.deepEqual(Object.values(chooseWorkerLayout(1, 0, 2, MiB)), [1, 2, 'TOKLIP_WORKERS']);
    assert.deepEqual(Object.values(chooseWorkerLayout(3, 0, 8, 4673 * MiB)).slice(0, 2), [3, 2]);
    assert.deepEqual(Object.values(chooseWorkerLayout(2, 5, 8, MiB)).slice(0, 2), [2, 5]);
  });
});

describe('chooseMaxBatch', () => {
  it('automatic: 8 for large graphs on CPU, 16 for small graphs and on CUDA', () => {
    assert.equal(chooseMaxBatch(0, 'cpu', 4673 * MiB), AUTO_MAX_BATCH_LARGE_CPU);
    assert.equal(AUTO_MAX_BATCH_LARGE_CPU, 8);
    assert.equal(chooseMaxBatch(0, 'cpu', 16 * MiB), AUTO_MAX_BATCH);
    assert.equal(chooseMaxBatch(0, 'cpu', SMALL_GRAPHS_BYTES), AUTO_MAX_BATCH);
    assert.equal(chooseMaxBatch(0, 'cuda', 4673 * MiB), AUTO_MAX_BATCH);
    assert.equal(AUTO_MAX_BATCH, 16);
  });

  it('a set TOKLIP_MAX_BATCH wins', () => {
    assert.equal(chooseMaxBatch(3, 'cpu', 4673 * MiB), 3);
    assert.equal(chooseMaxBatch(64, 'cuda', MiB), 64);
  });
});
