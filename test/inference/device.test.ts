/**
 * TOKLIP_DEVICE at start-up, on the real server process: `auto` on a machine without onnxruntime's
 * CUDA provider serves on CPU and says so in one plain log line (no red onnxruntime error from
 * asking for a provider that is not there); `cuda` then refuses to start with a message naming
 * the setting. Where a CUDA provider does load (a GPU machine with the CUDA build of
 * onnxruntime-node), the fallback cannot happen and both tests skip.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { cudaProviderLibrary } from '../../src/inference/device.js';
import { ChildServer } from '../helpers/child-server.js';

const INFO = 30;
const FATAL = 60;

describe('TOKLIP_DEVICE', () => {
  const children: ChildServer[] = [];
  after(() => Promise.all(children.map((child) => child.stop())));
  /** Set by the auto test: whether a CUDA provider loaded on this machine. */
  let cudaLoads: boolean | undefined;

  it('auto without a CUDA provider serves on CPU, says so once, and prints no onnxruntime error', async (t) => {
    const child = await ChildServer.start({ TOKLIP_DEVICE: 'auto', TOKLIP_WORKERS: '2' });
    children.push(child);
    const models = (await (await fetch(`${child.url}/v1/models`)).json()) as { data: { execution_provider: string }[] };
    const providers = models.data.map((m) => m.execution_provider);
    cudaLoads = providers.includes('cuda');
    if (cudaLoads || cudaProviderLibrary() !== undefined) {
      t.skip('a CUDA execution provider is installed here: auto asks for it, there is no plain fallback to test');
      return;
    }
    assert.ok(providers.length > 0 && providers.every((p) => p === 'cpu'), `providers: ${providers.join(', ')}`);
    const lines = child.records.filter((r) => r.msg === 'CUDA is not available: using the CPU');
    assert.equal(lines.length, 1, 'one line, not one per worker');
    assert.equal(lines[0]!.level, INFO);
    assert.match(String(lines[0]!.reason), /libonnxruntime_providers_cuda\.so is absent/);
    assert.equal(child.records.filter((r) => /falling back/.test(String(r.msg))).length, 0, 'no fallback after a failed attempt');
    assert.doesNotMatch(child.stderr, /onnxruntime|Failed to load library/, 'nothing from onnxruntime on stderr');
    const ready = child.records.find((r) => typeof r.msg === 'string' && r.msg.startsWith('ready:'));
    assert.equal(ready?.provider, 'cpu');
  });

  it('cuda without a CUDA provider stops the start with a clear message and exit code 1', async (t) => {
    if (cudaLoads) {
      t.skip('a CUDA execution provider loads here');
      return;
    }
    const child = ChildServer.launch({ TOKLIP_DEVICE: 'cuda' });
    children.push(child);
    const outcome = await Promise.race([
      child.exited,
      child.waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('ready:')).then(() => 'ready' as const),
    ]);
    if (outcome === 'ready') {
      t.skip('a CUDA execution provider loads here');
      return;
    }
    assert.equal(outcome.code, 1);
    const fatal = child.records.find((r) => r.level === FATAL);
    assert.match(String(fatal?.msg), /^TOKLIP_DEVICE=cuda: the CUDA execution provider did not load: \S/);
  });
});
