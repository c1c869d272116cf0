// Where a CUDA session of onnxruntime runs each node, following its partitioning:
//  1. CUDAExecutionProvider::GetCapability takes every node that has a CUDA kernel
//     (kernel-lookup.ts); the others fall back to the CPU provider.
//  2. Of those, GetCpuPreferredNodes (onnxruntime/core/framework/fallback_cpu_capability.cc)
//     moves to the CPU the nodes that compute only on host tensors: starting from the consumers
//     of outputs a CUDA kernel writes to host memory (Shape, Size) and of CPU nodes' outputs, in
//     topological order, a node goes to the CPU when each input is a small initializer (at most
//     100 elements), a graph input, or a host tensor that its CUDA kernel would not read from the
//     host anyway, and no input is a 16-bit or 8-bit float. This is shape arithmetic that
//     onnxruntime keeps on the CPU on purpose.
import { topologicalOrder } from './element-types.js';
import { kernelMemory, type KernelMemory } from './kernel-memory.js';
import { lookupKernel } from './kernel-lookup.js';
import type { KernelTable } from './kernel-table.js';
import type { OnnxModel, OnnxNode } from './onnx-model.js';

export type Placement =
  | { device: 'cuda'; memory: KernelMemory }
  | { device: 'cpu'; kind: 'no-kernel'; reason: string }
  | { device: 'cpu'; kind: 'shape-arithmetic'; reason: string };

export interface PlacedNode {
  node: OnnxNode;
  /** Position in topological order. */
  order: number;
  placement: Placement;
}

const SMALL_INITIALIZER = 100;
const NARROW_FLOATS = new Set(['float16', 'bfloat16', 'float8e4m3fn', 'float8e4m3fnuz', 'float8e5m2', 'float8e5m2fnuz', 'float4e2m1']);

/** A minimal binary heap of node positions (smallest first): onnxruntime's priority queue. */
class OrderQueue {
  private readonly items: number[] = [];
  push(v: number): void {
    const a = this.items;
    a.push(v);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p]! <= a[i]!) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): number | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

export function placeNodes(model: OnnxModel, table: KernelTable, types: Map<string, string>): PlacedNode[] {
  const order = topologicalOrder(model);
  const opsetOf = (node: OnnxNode) => model.opsets.get(node.domain) ?? 0;
  const consumers = new Map<string, number[]>();
  order.forEach((node, i) => node.inputs.forEach((name) => {
    if (name !== '') consumers.set(name, [...(consumers.get(name) ?? []), i]);
  }));
  const graphInputs = new Set(model.inputs.map((t) => t.name));
  const isSmallInitializer = (name: string) => {
    const init = model.initializers.get(name);
    return init !== undefined && init.dims.reduce((a, b) => a * b, 1) <= SMALL_INITIALIZER;
  };

  const placed: PlacedNode[] = order.map((node, i) => {
    const match = lookupKernel(table, node, opsetOf(node), types);
    return {
      node,
      order: i,
      placement: match.ok
        ? { device: 'cuda', memory: kernelMemory(node.domain, node.opType, opsetOf(node)) }
        : { device: 'cpu', kind: 'no-kernel', reason: match.reason },
    };
  });

  const hostTensors = new Set<string>();
  const candidates = new OrderQueue();
  const pushConsumers = (name: string) => (consumers.get(name) ?? []).forEach((c) => candidates.push(c));
  for (const p of placed) {
    if (p.placement.device !== 'cuda') continue;
    const memory = p.placement.memory;
    p.node.outputs.forEach((name, i) => {
      if (memory.cpuOutputs.has(i)) {
        hostTensors.add(name);
        pushConsumers(name);
      }
    });
  }
  const visited = new Set<number>();
  for (let cur = candidates.pop(); cur !== undefined; cur = candidates.pop()) {
    if (visited.has(cur)) continue;
    visited.add(cur);
    const p = placed[cur]!;
    if (p.placement.device === 'cpu') {
      // No CUDA kernel: a CPU node, whose consumers become candidates in turn.
      p.node.outputs.forEach((name) => {
        hostTensors.add(name);
        pushConsumers(name);
      });
      continue;
    }
    const memory = p.placement.memory;
    const onHostOnly = p.node.inputs.every((name, i) => {
      if (name === '') return false; // an omitted optional input is no host tensor (as in onnxruntime)
      if (NARROW_FLOATS.has(types.get(name) ?? '')) return false;
      if (isSmallInitializer(name) || graphInputs.has(name)) return true;
      return hostTensors.has(name) && !memory.cpuInputs.has(i);
    });
    if (onHostOnly) {
      p.placement = {
        device: 'cpu',
        kind: 'shape-arithmetic',
        reason: 'reads only host tensors derived from shapes and small constants: onnxruntime keeps it on the CPU (GetCpuPreferredNodes)',
      };
      p.node.outputs.forEach((name) => {
        hostTensors.add(name);
        pushConsumers(name);
      });
    }
  }
  return placed;
}
