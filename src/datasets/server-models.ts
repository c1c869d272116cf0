/**
 * What --server replicas serve: the model card of GET /v1/models, checked before any work is
 * sent (the model exists, can do what the command needs, and every replica serves the same
 * bundle, so that the output does not depend on which replica answered).
 */
import type { Capability } from '../models/registry.js';
import { ServerError } from './http-post.js';

/** The model as GET /v1/models describes it (the members the dataset commands use). */
export interface ModelCard {
  readonly id: string;
  readonly capabilities: readonly string[];
  readonly image_size: number;
  readonly grid: [number, number];
  readonly num_tokens: number;
  readonly codebook_size: number;
  readonly embedding_dim: number;
  readonly preprocessing: Record<string, unknown>;
  /** sha256 of the bundle's manifest.json (servers since the result cache; absent on older ones). */
  readonly bundle_sha256?: string;
}

export function bearer(apiKey: string | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

/** The card of model `id` (each server's default when absent), the same on every replica, with every capability of `needs`. */
export async function replicaModelCard(urls: readonly string[], id: string | undefined, apiKey: string | undefined, needs: readonly Capability[]): Promise<ModelCard> {
  if (urls.length === 0) throw new ServerError('--server needs at least one URL');
  const cards: ModelCard[] = [];
  for (const url of urls) {
    let list: { default_model: string; data: ModelCard[] };
    try {
      const response = await fetch(`${url}/v1/models`, { headers: bearer(apiKey) });
      if (!response.ok) throw new Error(`GET /v1/models answered ${response.status}`);
      list = (await response.json()) as typeof list;
    } catch (error) {
      throw new ServerError(`cannot use the server ${url}: ${(error as Error).message}`);
    }
    const wanted = id ?? list.default_model;
    const card = list.data.find((m) => m.id === wanted);
    if (card === undefined) throw new ServerError(`the server ${url} does not serve model '${wanted}' (it serves ${list.data.map((m) => m.id).join(', ')})`);
    const lacking = needs.filter((c) => !card.capabilities.includes(c));
    if (lacking.length > 0) throw new ServerError(`model ${wanted} on ${url} cannot ${lacking.join(', ')}`);
    cards.push(card);
  }
  const [first] = cards;
  const facts = (c: ModelCard) => JSON.stringify([c.id, c.bundle_sha256, c.grid, c.codebook_size, c.embedding_dim, c.image_size, c.preprocessing]);
  if (!cards.every((c) => facts(c) === facts(first!))) {
    throw new ServerError(`the servers describe model ${first!.id} differently (bundle sha256, grid, codebook, dims or preprocessing): they must serve the same bundle`);
  }
  return first!;
}
