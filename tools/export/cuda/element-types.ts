// Element types of every tensor of a graph, propagated from its inputs and initializers through
// the ops' type rules (onnxruntime's saved graphs carry no value_info). The kernel lookup needs
// the element type of each node input and output.
import { ELEMENT_TYPES, type OnnxModel, type OnnxNode } from './onnx-model.js';

const INT64_OUTPUTS = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero', 'NonMaxSuppression']);
const BOOL_OUTPUTS = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);

export class TypeInferenceError extends Error {}

function firstInputType(node: OnnxNode, types: Map<string, string>): string | undefined {
  const first = node.inputs.find((name) => name !== '');
  return first === undefined ? undefined : types.get(first);
}

/** Element types of node's outputs, or throws naming the node when a rule has no answer. */
function outputTypes(node: OnnxNode, types: Map<string, string>): (string | undefined)[] {
  const attr = (name: string) => node.attributes.get(name);
  const input = (i: number) => (node.inputs[i] ? types.get(node.inputs[i]!) : undefined);
  const all = (t: string | undefined) => node.outputs.map(() => t);
  if (node.domain === 'ai.onnx') {
    if (INT64_OUTPUTS.has(node.opType)) return all('int64');
    if (BOOL_OUTPUTS.has(node.opType)) return all('bool');
    switch (node.opType) {
      case 'Cast':
        return all(ELEMENT_TYPES[attr('to')?.i ?? 0]);
      case 'CastLike':
        return all(input(1));
      case 'Constant':
        return all(attr('value')?.tensor?.elementType ?? (attr('value_float') || attr('value_floats') ? 'float' : 'int64'));
      case 'ConstantOfShape':
        return all(attr('value')?.tensor?.elementType ?? 'float');
      case 'Where':
        return all(input(1));
      case 'TopK':
        return [input(0), 'int64'];
      case 'LayerNormalization':
        return [input(0), 'float', 'float'];
      case 'DequantizeLinear':
        return all(input(1) ?? 'float');
      case 'QuantizeLinear':
        return all(input(2) ?? 'uint8');
      case 'MatMulInteger':
      case 'ConvInteger':
        return all('int32');
    }
  }
  // Every other op of these graphs keeps the element type of its first input (arithmetic,
  // activations, normalisations, matrix products, convolutions, shape and index ops).
  return all(firstInputType(node, types));
}

/** Node order in which every input is produced before it is read (Kahn, file order on ties). */
export function topologicalOrder(model: OnnxModel): OnnxNode[] {
  const producer = new Map<string, number>();
  model.nodes.forEach((node, i) => node.outputs.forEach((o) => producer.set(o, i)));
  const pending = model.nodes.map((node) => new Set(node.inputs.filter((n) => n !== '' && producer.has(n)).map((n) => producer.get(n)!)));
  const consumers = model.nodes.map(() => [] as number[]);
  pending.forEach((deps, i) => deps.forEach((d) => consumers[d]!.push(i)));
  const ready = pending.map((deps, i) => (deps.size === 0 ? i : -1)).filter((i) => i >= 0);
  const order: OnnxNode[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    order.push(model.nodes[i]!);
    for (const c of consumers[i]!) {
      pending[c]!.delete(i);
      if (pending[c]!.size === 0) ready.push(c);
    }
  }
  if (order.length !== model.nodes.length) throw new TypeInferenceError('the graph has a cycle');
  return order;
}

export function inferElementTypes(model: OnnxModel): Map<string, string> {
  const types = new Map<string, string>();
  for (const [name, info] of model.valueInfo) types.set(name, info.elementType);
  for (const input of model.inputs) types.set(input.name, input.elementType);
  for (const [name, init] of model.initializers) types.set(name, init.elementType);
  for (const node of topologicalOrder(model)) {
    const outs = outputTypes(node, types);
    node.outputs.forEach((name, i) => {
      if (name === '') return;
      const t = outs[i] ?? model.valueInfo.get(name)?.elementType;
      if (t === undefined) throw new TypeInferenceError(`node ${node.name} (${node.opType}): no element type for output ${name}`);
      types.set(name, t);
    });
  }
  return types;
}
