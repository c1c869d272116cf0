// CUDA coverage of the bundles (docs/export.md, "CUDA coverage"): every committed bundle's nodes
// run on CUDA except deliberate shape arithmetic, only graph inputs and outputs cross PCIe, the
// planted graphs fail with their reasons, and the documentation's tables are the check's output.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkBundle, type BundleCoverage } from '../../tools/export/cuda/coverage.js';
import { documentedRows, tableRows } from '../../tools/export/cuda/doc-tables.js';
import { parseOperatorKernels, readKernelTable } from '../../tools/export/cuda/kernel-table.js';
import type { OnnxModel, OnnxNode } from '../../tools/export/cuda/onnx-model.js';
import { withoutCpuCasts } from '../../tools/export/cuda/ort-level1.js';

const table = readKernelTable();
const PLANTED = 'test/fixtures/cuda-coverage/planted';
const ROOTS = ['models', 'test/fixtures/bundles', 'test/fixtures/bundles-float16'];

function committedBundles(): string[] {
  return ROOTS.filter((root) => existsSync(root)).flatMap((root) =>
    readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'manifest.json')))
      .map((e) => join(root, e.name)),
  ).sort();
}

describe('the CUDA kernel table', () => {
  it('names its source and holds the kernels of the ops the bundles use', () => {
    assert.equal(table.provider, 'CUDAExecutionProvider');
    assert.equal(table.source.repository, 'microsoft/onnxruntime');
    assert.match(table.source.commit, /^[0-9a-f]{40}$/);
    const onnx = table.domains['ai.onnx']!;
    for (const op of ['Conv', 'MatMul', 'Gemm', 'LayerNormalization', 'InstanceNormalization', 'Resize', 'ArgMin', 'Softmax']) {
      assert.ok(onnx[op], op);
    }
    assert.equal(onnx.Det, undefined, 'Det has no CUDA kernel (the planted graph relies on it)');
    assert.deepEqual(onnx.Clip!.versions.find((v) => v.until === null)!.types.T!.includes('int32'), false);
  });

  it('is read from the CUDA section of OperatorKernels.md only', () => {
    const markdown = [
      '## Operators implemented by CPUExecutionProvider', '', '| Op Name | Parameters | OpSet Version | Types Supported |',
      '|---------|------------|---------------|-----------------|', '|**Operator Domain:** *ai.onnx*||||',
      '|Det|*in* X:**T**<br> *out* Y:**T**|11+|**T** = tensor(float)|',
      '## Operators implemented by CUDAExecutionProvider', '', '| Op Name | Parameters | OpSet Version | Types Supported |',
      '|---------|------------|---------------|-----------------|', '|**Operator Domain:** *ai.onnx*||||',
      '|Pad|*in* data:**T**<br> *in* pads:**tensor(int64)**<br><br>or<br><br>*in* data:**T**<br> *out* output:**T**|18+|**T** = tensor(bool), tensor(float)|',
      '|||[2, 10]|**T** = tensor(double)|', '| |', '|**Operator Domain:** *com.microsoft*||||',
      '|Gelu|*in* X:**T**<br> *out* Y:**T**|1+|**T** = seq(tensor(float)), tensor(float16)<br/> **U** = tensor(int64)|',
    ].join('\n');
    assert.deepEqual(parseOperatorKernels(markdown, 'CUDAExecutionProvider'), {
      'ai.onnx': {
        Pad: {
          signatures: [{ inputs: ['T', 'int64'], outputs: [] }, { inputs: ['T'], outputs: ['T'] }],
          versions: [{ since: 18, until: null, types: { T: ['bool', 'float'] } }, { since: 2, until: 10, types: { T: ['double'] } }],
        },
      },
      'com.microsoft': {
        Gelu: { signatures: [{ inputs: ['T'], outputs: ['T'] }], versions: [{ since: 1, until: null, types: { T: ['seq(float)', 'float16'], U: ['int64'] } }] },
      },
    });
  });
});

describe('the planted graphs', async () => {
  const report = await checkBundle(PLANTED, table);
  const graph = (name: string) => report.graphs.find((g) => g.graph === name)!;

  it('fail the check', () => assert.equal(report.ok, false));

  it('name a node whose op has no CUDA kernel, with the data it moves', () => {
    const g = graph('no_kernel');
    assert.deepEqual(g.cpuNodes.map((n) => [n.name, n.kind, n.reason]), [['det', 'no-kernel', 'no CUDA kernel for Det']]);
    assert.ok(g.failures.includes('det (Det) runs on the CPU: no CUDA kernel for Det'), g.failures.join('\n'));
    assert.ok(g.transfers.some((t) => t.tensor === 'r' && t.kind === 'internal' && t.direction === 'device-to-host'));
  });

  it('name a node whose element types have no CUDA kernel', () => {
    assert.match(graph('wrong_type').failures.join('\n'), /clip_int32 \(Clip\) runs on the CPU: no CUDA kernel of Clip opset 13\+ for these types: input 0 \(x\) is int32/);
  });

  it('name a node the CUDA provider declines for its attributes', () => {
    assert.match(graph('declined').failures.join('\n'), /argmin_last \(ArgMin\) runs on the CPU: ArgMin with select_last_index=1/);
  });

  it('name shape arithmetic whose result is copied to the GPU as data', () => {
    const g = graph('crossing');
    assert.deepEqual(g.cpuNodes.map((n) => [n.name, n.kind]), [['width', 'shape-arithmetic'], ['width_as_float', 'shape-arithmetic']]);
    assert.deepEqual(g.failures, ['nf (float) is copied host-to-device on every run, between a CPU node and a CUDA node']);
  });

  it('pass a clean graph: all nodes on CUDA, only its input and output cross', () => {
    const g = graph('clean');
    assert.deepEqual([g.failures, g.cpuNodes, g.cudaNodes], [[], [], 2]);
    assert.deepEqual(g.transfers.map((t) => [t.tensor, t.direction, t.kind, t.bytesPerItem]), [
      ['x', 'host-to-device', 'input', 16], ['y', 'device-to-host', 'output', 8],
    ]);
  });
});

describe('the committed bundles', async () => {
  const bundles = committedBundles();
  const reports = new Map<string, BundleCoverage>();
  for (const dir of bundles) reports.set(dir, await checkBundle(dir, table));

  it('include the shipped model and both fixtures', () => {
    for (const dir of ['models/toklip-scenes-128', 'test/fixtures/bundles/tiny-64', 'test/fixtures/bundles-float16/tiny-64-f16']) {
      assert.ok(bundles.includes(dir), `${dir} in ${bundles.join(', ')}`);
    }
  });

  for (const dir of bundles) {
    it(`${dir}: every node on CUDA but shape arithmetic, only inputs and outputs cross`, () => {
      const report = reports.get(dir)!;
      assert.deepEqual(report.graphs.flatMap((g) => g.failures), []);
      assert.equal(report.ok, true);
      for (const g of report.graphs) {
        assert.ok(g.cpuNodes.every((n) => n.kind === 'shape-arithmetic'), g.graph);
        assert.deepEqual([...new Set(g.transfers.map((t) => t.kind))].sort(), ['input', 'output'], g.graph);
        assert.ok(g.transfers.every((t) => t.bytesPerItem !== null && t.bytesPerItem > 0), g.graph);
      }
    });
  }

  it('are listed in docs/export.md (CPU nodes) and the shipped ones in docs/deploy.md (transfers) as the check prints them', () => {
    const exportDoc = readFileSync('docs/export.md', 'utf8');
    const deployDoc = readFileSync('docs/deploy.md', 'utf8');
    for (const [dir, report] of reports) {
      assert.deepEqual(documentedRows(exportDoc, report.name), tableRows(report, 'cpu-nodes'), `docs/export.md rows of ${dir}`);
      if (dir.startsWith('models/')) {
        assert.deepEqual(documentedRows(deployDoc, report.name), tableRows(report, 'transfers'), `docs/deploy.md rows of ${dir}`);
      }
    }
  });
});

describe('withoutCpuCasts', () => {
  const node = (name: string, opType: string, inputs: string[], outputs: string[]): OnnxNode =>
    ({ name, opType, domain: 'ai.onnx', inputs, outputs, attributes: new Map() });

  it('removes the Casts a CPU session inserts around float16 nodes and reconnects their consumers', () => {
    const model: OnnxModel = {
      opsets: new Map([['ai.onnx', 17]]),
      nodes: [
        node('InsertedPrecisionFreeCast_w', 'Cast', ['w'], ['w_f32']),
        node('conv', 'Conv', ['x', 'w_f32'], ['y_f32']),
        node('InsertedPrecisionFreeCast_y', 'Cast', ['y_f32'], ['y']),
        node('to_fp32', 'Cast', ['y'], ['out']),
      ],
      inputs: [{ name: 'x', elementType: 'float16', dims: [1] }],
      outputs: [{ name: 'out', elementType: 'float', dims: [1] }],
      valueInfo: new Map(),
      initializers: new Map([['w', { elementType: 'float16', dims: [1] }]]),
    };
    const cleaned = withoutCpuCasts(model);
    assert.deepEqual(cleaned.nodes.map((n) => [n.name, n.inputs, n.outputs]), [
      ['conv', ['x', 'w'], ['y_f32']],
      ['to_fp32', ['y_f32'], ['out']],
    ]);
  });
});
