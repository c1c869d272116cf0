/** Progress: the fraction done, the ETA and the texts of the bar and of the log lines. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProgressReporter, type ProgressState, formatBar, formatDuration, formatLine, fractionDone } from '../../src/datasets/progress.js';

const state = (over: Partial<ProgressState> = {}): ProgressState => ({
  units: 4, unitsDone: 1, unitImages: 100, unitImagesDone: 50, shard: 'shard-00005.parquet', images: 140, errors: 10, elapsedMs: 10_000, meanUnitImages: 100, ...over,
});

describe('dataset progress', () => {
  it('counts done units and the part of the current one', () => {
    assert.equal(fractionDone(state()), 1.5 / 4);
    assert.equal(fractionDone(state({ unitImages: undefined, meanUnitImages: undefined })), 1 / 4, 'a tar shard of unknown size counts when done');
    assert.equal(fractionDone(state({ unitImages: undefined, meanUnitImages: 200 })), 1.25 / 4, 'or by the mean size of the shards so far');
    assert.equal(fractionDone(state({ units: 0 })), 1);
  });

  it('writes one log line and a bar fitted to the terminal', () => {
    assert.equal(formatLine(state()), 'progress: 37% | 140 images, 10 errors | 15.0 images/s | ETA 0:17 | shard 2/4 (shard-00005.parquet)');
    const bar = formatBar(state(), 80);
    assert.ok(bar.length <= 79);
    assert.match(bar, /^\[#+\.+\]  37% 140 img 15\.0\/s ETA 0:17 err 10 shard 2\/4$/);
    assert.equal(formatDuration(3725), '1:02:05');
  });

  it('writes lines at its interval when not on a terminal, nothing when off', async () => {
    let firstLine!: (text: string) => void;
    const line = new Promise<string>((resolve) => (firstLine = resolve));
    const logs = { isTTY: false, write: (text: string) => firstLine(text) };
    const reporter = new ProgressReporter(ProgressReporter.modeFor('auto', logs), logs, 5);
    reporter.begin(1);
    reporter.unitStarted('shard-00000.parquet', 2);
    reporter.imageDone(false);
    assert.match(await line, /^progress: 50% \| 1 images, 0 errors \| [\d.]+ images\/s \| ETA [\d:?]+ \| shard 1\/1 \(shard-00000.parquet\)\n$/);
    reporter.end();
    assert.equal(ProgressReporter.modeFor('auto', { isTTY: true, write: () => true }), 'bar');
    const silent = new ProgressReporter('off', { write: () => assert.fail('off writes nothing') }, 1);
    silent.begin(1);
    silent.imageDone(true);
    silent.end();
  });
});
