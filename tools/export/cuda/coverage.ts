// The CUDA coverage check of a bundle: for every node of every graph, whether onnxruntime's CUDA
// provider runs it, which nodes run on the CPU and why, and which tensors cross between host and
// device on each run. A graph passes when no node lacks a CUDA kernel, every CPU node is shape
// arithmetic on host tensors (shape vectors and constants of at most 100 elements, so no data
// crosses PCIe for it), and only the graph's inputs and outputs cross.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inferElementTypes, TypeInferenceError } from './element-types.js';
import type { KernelTable } from './kernel-table.js';
import { levelOneModel } from './ort-level1.js';
import { ELEMENT_BYTES, type OnnxModel } from './onnx-model.js';
import { placeNodes, type PlacedNode } from './placement.js';

export interface CpuNode {
  name: string;
  op: string;
  kind: 'no-kernel' | 'shape-arithmetic';
  reason: string;
}

export interface Transfer {
  tensor: string;
  direction: 'host-to-device' | 'device-to-host';
  /** input / output of the graph, or internal (an edge between a CPU and a CUDA node). */
  kind: 'input' | 'output' | 'internal';
  elementType: string;
  dims: (number | string)[];
  /** Bytes for one item (batch 1, symbolic dimensions at the bundle's size); null if unknown. */
  bytesPerItem: number | null;
}

export interface GraphCoverage {
  graph: string;
  file: string;
  nodes: number;
  cudaNodes: number;
  cpuNodes: CpuNode[];
  transfers: Transfer[];
  failures: string[];
}

export interface BundleCoverage {
  bundle: string;
  name: string;
  dtype: string;
  graphs: GraphCoverage[];
  ok: boolean;
}

interface Manifest {
  name: string;
  dtype: string;
  num_tokens: number;
  graphs: Record<string, { file: string }>;
}

function bytesPerItem(elementType: string, dims: (number | string)[], sizes: Record<string, number>): number | null {
  const size = ELEMENT_BYTES[elementType];
  let count = 1;
  for (const d of dims) {
    const v = typeof d === 'number' ? d : sizes[d];
    if (v === undefined || size === undefined) return null;
    count *= v;
  }
  return count * size!;
}

/** Host/device crossings per run, from the placement of each producer and consumer. */
function transfersOf(model: OnnxModel, placed: PlacedNode[], types: Map<string, string>, sizes: Record<string, number>): Transfer[] {
  const producer = new Map<string, { p: PlacedNode; index: number }>();
  for (const p of placed) p.node.outputs.forEach((name, index) => producer.set(name, { p, index }));
  const onHost = (name: string): boolean => {
    const prod = producer.get(name);
    if (!prod) return true; // graph input: the caller's buffer
    const placement = prod.p.placement;
    return placement.device === 'cpu' || placement.memory.cpuOutputs.has(prod.index);
  };
  const declared = new Map([...model.inputs, ...model.outputs].map((t) => [t.name, t]));
  const crossings = new Map<string, Transfer>();
  const add = (tensor: string, direction: Transfer['direction'], kind: Transfer['kind']) => {
    const key = `${tensor}:${direction}`;
    if (crossings.has(key)) return;
    const elementType = types.get(tensor) ?? 'unknown';
    const dims = declared.get(tensor)?.dims ?? [];
    crossings.set(key, {
      tensor, direction, kind, elementType, dims,
      bytesPerItem: declared.has(tensor) ? bytesPerItem(elementType, dims, sizes) : null,
    });
  };
  const graphInputs = new Set(model.inputs.map((t) => t.name));
  for (const p of placed) {
    p.node.inputs.forEach((name, i) => {
      if (name === '' || model.initializers.has(name)) return; // weights: copied once, at load
      const wantsHost = p.placement.device === 'cpu' || p.placement.memory.cpuInputs.has(i);
      const host = onHost(name);
      const kind = graphInputs.has(name) ? 'input' : 'internal';
      if (host && !wantsHost) add(name, 'host-to-device', kind);
      if (!host && wantsHost) add(name, 'device-to-host', 'internal');
    });
  }
  for (const output of model.outputs) {
    if (!onHost(output.name)) add(output.name, 'device-to-host', 'output');
  }
  return [...crossings.values()];
}

/** Why a CPU-placed node is not cheap host arithmetic, or "". */
function notCheap(p: PlacedNode, model: OnnxModel, shapeDerived: Set<string>): string {
  const reads = p.node.inputs.filter((name) => name !== '' && !shapeDerived.has(name) && !(model.initializers.has(name)
    && model.initializers.get(name)!.dims.reduce((a, b) => a * b, 1) <= 100));
  return reads.length > 0 ? `reads ${reads.join(', ')} on the CPU, which are neither shapes nor small constants` : '';
}

export function analyseGraph(graph: string, file: string, model: OnnxModel, table: KernelTable, sizes: Record<string, number>): GraphCoverage {
  const failures: string[] = [];
  let types: Map<string, string>;
  try {
    types = inferElementTypes(model);
  } catch (e) {
    if (!(e instanceof TypeInferenceError)) throw e;
    return { graph, file, nodes: model.nodes.length, cudaNodes: 0, cpuNodes: [], transfers: [], failures: [e.message] };
  }
  for (const node of model.nodes) {
    if ([...node.attributes.values()].some((a) => a.graph)) failures.push(`${node.name} (${node.opType}) holds a subgraph, which this check does not follow`);
  }
  const placed = placeNodes(model, table, types);
  const shapeDerived = new Set<string>();
  for (const p of placed) {
    const fromShape = p.placement.device === 'cuda' && p.placement.memory.cpuOutputs.size > 0;
    const arithmetic = p.placement.device === 'cpu' && p.placement.kind === 'shape-arithmetic';
    if (fromShape || arithmetic) p.node.outputs.forEach((name, i) => {
      if (arithmetic || (p.placement.device === 'cuda' && p.placement.memory.cpuOutputs.has(i))) shapeDerived.add(name);
    });
  }
  const cpuNodes: CpuNode[] = [];
  for (const p of placed) {
    if (p.placement.device !== 'cpu') continue;
    cpuNodes.push({ name: p.node.name, op: p.node.opType, kind: p.placement.kind, reason: p.placement.reason });
    if (p.placement.kind === 'no-kernel') {
      failures.push(`${p.node.name} (${p.node.opType}) runs on the CPU: ${p.placement.reason}`);
    } else {
      const problem = notCheap(p, model, shapeDerived);
      if (problem) failures.push(`${p.node.name} (${p.node.opType}) runs on the CPU and ${problem}`);
    }
  }
  const transfers = transfersOf(model, placed, types, sizes);
  for (const t of transfers) {
    if (t.kind === 'internal') failures.push(`${t.tensor} (${t.elementType}) is copied ${t.direction} on every run, between a CPU node and a CUDA node`);
  }
  return { graph, file, nodes: model.nodes.length, cudaNodes: placed.length - cpuNodes.length, cpuNodes, transfers, failures };
}

/** Checks every graph of the bundle in `dir` (after onnxruntime's level-1 optimizations). */
export async function checkBundle(dir: string, table: KernelTable): Promise<BundleCoverage> {
  const bundle = resolve(dir);
  const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as Manifest;
  const sizes = { batch: 1, tokens: manifest.num_tokens };
  const graphs: GraphCoverage[] = [];
  for (const [graph, entry] of Object.entries(manifest.graphs)) {
    const model = await levelOneModel(join(bundle, entry.file));
    graphs.push(analyseGraph(graph, entry.file, model, table, sizes));
  }
  return { bundle, name: manifest.name, dtype: manifest.dtype, graphs, ok: graphs.every((g) => g.failures.length === 0) };
}
