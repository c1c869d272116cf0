/** What an inference worker needs to know of each served model, from the registry's bundles. */
import { GRAPH_NAMES, type GraphName } from '../models/manifest.js';
import type { ModelRegistry } from '../models/registry.js';
import type { GraphIO, WorkerModelSpec } from './protocol.js';

export function workerModelSpecs(registry: ModelRegistry): WorkerModelSpec[] {
  return registry.list().map((m) => {
    const graphs: Partial<Record<GraphName, GraphIO>> = {};
    for (const graph of GRAPH_NAMES) {
      const spec = m.manifest.graphs[graph];
      const path = m.graphPaths[graph];
      if (spec !== undefined && path !== undefined) graphs[graph] = { path, inputs: spec.inputs, outputs: spec.outputs };
    }
    return {
      id: m.id,
      graphs,
      imageSize: m.imageSize,
      numTokens: m.numTokens,
      textContextLength: m.manifest.text?.context_length,
      mean: m.manifest.preprocessing.mean,
      std: m.manifest.preprocessing.std,
    };
  });
}

/** Total size of the graphs of every served model, external weight files included (the manifest's sizes, checked at load). */
export function servedGraphBytes(registry: ModelRegistry): number {
  let total = 0;
  for (const { manifest } of registry.list()) {
    for (const graph of Object.values(manifest.graphs)) {
      if (graph === undefined) continue;
      for (const file of [graph.file, ...(graph.external_data ?? [])]) total += manifest.files[file]?.size ?? 0;
    }
  }
  return total;
}
