/** The distributor: --shard I/N and the Indexed Job variables select disjoint parts that cover the plan. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShardError, WHOLE, inPart, parseShard, selectShard } from '../../src/datasets/sharding.js';

describe('dataset sharding', () => {
  it('parts are disjoint and cover every unit', () => {
    for (const count of [1, 2, 3, 7]) {
      for (let unit = 0; unit < 50; unit++) {
        const owners = Array.from({ length: count }, (_, index) => index).filter((index) => inPart(unit, { index, count }));
        assert.equal(owners.length, 1, `unit ${unit} of ${count} parts`);
      }
    }
  });

  it('reads I/N, and refuses what is not a part', () => {
    assert.deepEqual(parseShard('2/8'), { index: 2, count: 8 });
    for (const bad of ['8/8', '1/0', '-1/3', 'a/b', '3']) assert.throws(() => parseShard(bad), ShardError, bad);
  });

  it('takes --shard first, then JOB_COMPLETION_INDEX with JOB_COMPLETIONS, else the whole plan', () => {
    assert.deepEqual(selectShard('1/4', { JOB_COMPLETION_INDEX: '3', JOB_COMPLETIONS: '8' }), { index: 1, count: 4 });
    assert.deepEqual(selectShard(undefined, { JOB_COMPLETION_INDEX: '3', JOB_COMPLETIONS: '8' }), { index: 3, count: 8 });
    assert.deepEqual(selectShard(undefined, {}), WHOLE);
    assert.throws(() => selectShard(undefined, { JOB_COMPLETION_INDEX: '3' }), /JOB_COMPLETIONS .* does not give the number of parts/);
    assert.throws(() => selectShard(undefined, { JOB_COMPLETION_INDEX: '9', JOB_COMPLETIONS: '8' }), /expected I\/N with 0 <= I < N/);
  });
});
