/**
 * The bundle format's graph contract (docs/bundle-format.md, "Graphs"): the tensors each graph
 * takes and gives, by name, with their element type and rank. The registry checks every
 * manifest against it, the inference workers check every ONNX session against the manifest,
 * and the scheduler feeds and fetches by these names: a renamed or missing tensor stops the
 * start with a message naming the file and the tensor, instead of failing a request later.
 */
import type { GraphName } from './manifest.js';

export interface TensorContract {
  readonly name: string;
  readonly dtype: 'float32' | 'int64';
  readonly rank: number;
}

type Tensors<K extends string> = { readonly [P in K]: TensorContract };

export const GRAPH_CONTRACT = {
  vq_encoder: {
    inputs: { pixels: { name: 'pixels', dtype: 'float32', rank: 4 } } as Tensors<'pixels'>,
    outputs: { ids: { name: 'ids', dtype: 'int64', rank: 2 } } as Tensors<'ids'>,
  },
  semantic_encoder: {
    inputs: { ids: { name: 'ids', dtype: 'int64', rank: 2 } } as Tensors<'ids'>,
    outputs: {
      features: { name: 'features', dtype: 'float32', rank: 3 },
      embedding: { name: 'embedding', dtype: 'float32', rank: 2 },
    } as Tensors<'features' | 'embedding'>,
  },
  vq_decoder: {
    inputs: { ids: { name: 'ids', dtype: 'int64', rank: 2 } } as Tensors<'ids'>,
    outputs: { pixels: { name: 'pixels', dtype: 'float32', rank: 4 } } as Tensors<'pixels'>,
  },
  text_encoder: {
    inputs: { input_ids: { name: 'input_ids', dtype: 'int64', rank: 2 } } as Tensors<'input_ids'>,
    outputs: { embedding: { name: 'embedding', dtype: 'float32', rank: 2 } } as Tensors<'embedding'>,
  },
} as const satisfies Record<GraphName, { inputs: Tensors<string>; outputs: Tensors<string> }>;

interface DeclaredTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly unknown[];
}

/**
 * Problems of a graph's declared tensors (the manifest's, or a session's) against the contract:
 * each contract tensor present with its element type and rank, nothing else.
 */
export function contractProblems(
  graph: GraphName,
  side: 'inputs' | 'outputs',
  declared: readonly DeclaredTensor[],
  where: string,
): string[] {
  const expected = Object.values(GRAPH_CONTRACT[graph][side]) as TensorContract[];
  const problems: string[] = [];
  const what = side === 'inputs' ? 'input' : 'output';
  for (const tensor of expected) {
    const found = declared.find((d) => d.name === tensor.name);
    if (found === undefined) {
      problems.push(`${where}: no ${what} '${tensor.name}' (${what}s: ${declared.map((d) => `'${d.name}'`).join(', ') || 'none'})`);
    } else if (found.dtype !== tensor.dtype || found.shape.length !== tensor.rank) {
      problems.push(`${where}: ${what} '${tensor.name}' is ${found.dtype} of rank ${found.shape.length}, expected ${tensor.dtype} of rank ${tensor.rank}`);
    }
  }
  for (const d of declared) {
    if (!expected.some((t) => t.name === d.name)) problems.push(`${where}: unexpected ${what} '${d.name}' (the bundle format names ${expected.map((t) => `'${t.name}'`).join(', ')})`);
  }
  return problems;
}
