/**
 * WorkerPool pipelining on real inference workers (the tiny fixture bundle): a worker holds the
 * running batch and the next one queued behind it, runs them one at a time in order, and a
 * batch that fails inside ONNX Runtime fails alone.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isServiceError } from '../../src/errors.js';
import { WorkerPool } from '../../src/inference/pool.js';
import { workerModelSpecs } from '../../src/inference/model-spec.js';
import type { RunRequest, WorkerModelSpec } from '../../src/inference/protocol.js';
import { loadRegistry } from '../../src/models/registry.js';
import { FIXTURE_BUNDLES_DIR, TINY_MODEL } from '../helpers/golden.js';
import { testLogger } from '../helpers/silent-logger.js';
import { WorkerFaults } from '../helpers/worker-faults.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'bundles', 'tiny-64');
const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8'));
let model: WorkerModelSpec;

/** A semantic_encoder batch of `rows` id rows, deterministic in `seed` (a fresh buffer: it is transferred). */
function encodeRequest(rows: number, seed: number): RunRequest {
  const ids = new Uint32Array(rows * model.numTokens).map((_, i) => (i * 7 + seed * 13) % manifest.codebook.size);
  return { model: model.id, graph: 'semantic_encoder', batch: rows, input: { kind: 'ids', data: ids, rowLength: model.numTokens }, outputs: ['embedding'] };
}

describe('WorkerPool pipelining', () => {
  let pool: WorkerPool;
  const faults = new WorkerFaults();
  before(async () => {
    const registry = await loadRegistry(FIXTURE_BUNDLES_DIR, { verifyChecksums: false, defaultModel: TINY_MODEL });
    model = workerModelSpecs(registry).find((m) => m.id === TINY_MODEL)!;
    pool = await WorkerPool.start({
      size: 1,
      init: { models: [model], device: { provider: 'cpu', reason: 'test' }, intraOpThreads: 1, intraOpSpinning: false, nice: 0 },
      log: testLogger(),
      entry: faults.entry,
    });
  });
  after(() => pool.close());

  it('hands a worker its next batch while one runs, and answers each batch with its own outputs', async () => {
    assert.equal(pool.stagingSlots, 1, 'one queued batch per worker by default');
    const seeds = [1, 2, 3];
    const runs = seeds.map((seed) => pool.run(encodeRequest(seed, seed)));
    assert.deepEqual(pool.heldJobs, [2], 'the running batch and the next one are with the worker; the third waits in the pool');
    const results = await Promise.all(runs);
    assert.deepEqual(pool.heldJobs, [0]);
    for (const [i, seed] of seeds.entries()) {
      const alone = await pool.run(encodeRequest(seed, seed));
      assert.deepEqual(results[i]!.outputs.embedding!.dims, [seed, manifest.embedding_dim]);
      assert.deepEqual(results[i]!.outputs.embedding!.data, alone.outputs.embedding!.data, `batch ${i} got its own outputs`);
    }
  });

  it('fails only the batch whose run fails; the batch queued behind it still runs', async () => {
    faults.failNextRun('semantic_encoder');
    const [failed, next] = await Promise.allSettled([pool.run(encodeRequest(2, 5)), pool.run(encodeRequest(2, 6))]);
    assert.equal(failed.status, 'rejected');
    assert.ok(isServiceError(failed.reason) && failed.reason.code === 'inference_failed', String(failed.status === 'rejected' && failed.reason));
    assert.equal(next.status, 'fulfilled');
    assert.deepEqual(next.value.outputs.embedding!.dims, [2, manifest.embedding_dim]);
  });
});
