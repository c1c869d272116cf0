/**
 * TOKLIP_DEVICE at start-up, on the real server process: `auto` falls back to CPU and says so
 * when no CUDA provider loads, `cuda` then refuses to start with a message naming the setting.
 * Where a CUDA provider does load (a GPU machine with the CUDA build of onnxruntime-node), the
 * fallback cannot happen and both tests skip. Also: CUDA settings that the Node binding cannot
 * apply are reported once at start.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ChildServer, type LogRecord } from '../helpers/child-server.js';

const WARN = 40;
const FATAL = 60;
const isCudaSettingsWarning = (r: LogRecord) => r.level === WARN && /onnxruntime-node passes only the device id/.test(String(r.msg));

describe('TOKLIP_DEVICE', () => {
  const children: ChildServer[] = [];
  after(() => Promise.all(children.map((child) => child.stop())));
  /** Set by the auto test: whether a CUDA provider loaded on this machine. */
  let cudaLoads: boolean | undefined;

  it('auto without a CUDA provider serves on CPU, logs the fallback, and warns once about CUDA settings it cannot apply', async (t) => {
    const child = await ChildServer.start({
      TOKLIP_DEVICE: 'auto',
      TOKLIP_CUDA_ARENA_EXTEND_STRATEGY: 'same_as_requested',
      TOKLIP_CUDA_CUDNN_CONV_ALGO_SEARCH: 'heuristic',
    });
    children.push(child);
    const models = (await (await fetch(`${child.url}/v1/models`)).json()) as { data: { execution_provider: string }[] };
    const providers = models.data.map((m) => m.execution_provider);

    const warnings = child.records.filter(isCudaSettingsWarning);
    assert.equal(warnings.length, 1, 'one warning, not one per worker');
    assert.deepEqual(warnings[0]!.settings, ['TOKLIP_CUDA_ARENA_EXTEND_STRATEGY=same_as_requested', 'TOKLIP_CUDA_CUDNN_CONV_ALGO_SEARCH=heuristic']);

    cudaLoads = providers.includes('cuda');
    if (cudaLoads) {
      t.skip('a CUDA execution provider loads here: auto chose it, there is no fallback to test');
      return;
    }
    assert.ok(providers.length > 0 && providers.every((p) => p === 'cpu'), `providers: ${providers.join(', ')}`);
    const fallback = child.records.find((r) => r.level === WARN && r.msg === 'CUDA execution provider unavailable, falling back to CPU');
    assert.ok(fallback, 'the fallback is logged');
    assert.equal(typeof fallback.reason, 'string', 'with the reason the provider did not load');
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
    assert.equal(child.records.filter(isCudaSettingsWarning).length, 0, 'default CUDA settings: no warning');
  });
});
