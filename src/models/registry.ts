/**
 * The model registry: every bundle folder under the models directory (docs/bundle-format.md),
 * its manifest validated, its files checked (size always, sha256 unless disabled), its shapes
 * cross-checked, and its text tokenizer loaded. Problems are collected per bundle and reported
 * together, so a bad bundle fails the start with one readable message.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import Value from 'typebox/value';
import { contractProblems } from './graph-contract.js';
import { GRAPH_NAMES, type GraphName, type GraphSpec, type Manifest, ManifestSchema } from './manifest.js';
import { TextTokenizer } from './text-tokenizer.js';

/** What a model can do, from the graphs it has (and a tokenizer for texts). */
export const CAPABILITIES = ['tokenize', 'decode', 'encode_image', 'encode_tokens', 'encode_text'] as const;
export type Capability = (typeof CAPABILITIES)[number];

export interface ModelBundle {
  readonly id: string;
  readonly dir: string;
  readonly manifest: Manifest;
  /** Graph name -> absolute path of its .onnx file, for the graphs the bundle has. */
  readonly graphPaths: Readonly<Partial<Record<GraphName, string>>>;
  readonly capabilities: readonly Capability[];
  readonly imageSize: number;
  readonly grid: readonly [number, number];
  readonly numTokens: number;
  readonly codebookSize: number;
  readonly embeddingDim: number;
  readonly textTokenizer: TextTokenizer | undefined;
  /**
   * sha256 (hex) of the bundle's manifest.json bytes. The manifest lists every file with its
   * sha256 and size, so this digest names the bundle's whole content (the result cache keys on
   * it, so a changed bundle never reads an older bundle's results).
   */
  readonly digest: string;
}

export class BundleError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid model bundles:\n  - ${problems.join('\n  - ')}`);
    this.name = 'BundleError';
  }
}

export class ModelRegistry {
  private readonly byId: ReadonlyMap<string, ModelBundle>;
  readonly defaultModel: ModelBundle;

  constructor(bundles: readonly ModelBundle[], defaultId?: string) {
    if (bundles.length === 0) throw new BundleError(['no model bundles']);
    this.byId = new Map([...bundles].sort((a, b) => a.id.localeCompare(b.id)).map((b) => [b.id, b]));
    const chosen = defaultId === undefined ? [...this.byId.values()][0] : this.byId.get(defaultId);
    if (chosen === undefined) {
      throw new BundleError([`default model '${defaultId}' is not among the loaded models: ${this.ids().join(', ')}`]);
    }
    this.defaultModel = chosen;
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  list(): ModelBundle[] {
    return [...this.byId.values()];
  }

  get(id: string): ModelBundle | undefined {
    return this.byId.get(id);
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function capabilitiesOf(graphs: Manifest['graphs'], hasTokenizer: boolean): Capability[] {
  const caps: Capability[] = [];
  if (graphs.vq_encoder) caps.push('tokenize');
  if (graphs.vq_decoder) caps.push('decode');
  if (graphs.vq_encoder && graphs.semantic_encoder) caps.push('encode_image');
  if (graphs.semantic_encoder) caps.push('encode_tokens');
  if (graphs.text_encoder && hasTokenizer) caps.push('encode_text');
  return caps;
}

/** The dims of each graph's tensors (by contract name), derived from the manifest's top-level facts. */
function expectedShapes(m: Manifest): Record<GraphName, Record<string, unknown[]>> {
  const R = m.image_size;
  const N = m.num_tokens;
  const D = m.embedding_dim;
  const L = m.text?.context_length;
  return {
    vq_encoder: { pixels: ['batch', 3, R, R], ids: ['batch', N] },
    semantic_encoder: { ids: ['batch', 'tokens'], features: ['batch', 'tokens', D], embedding: ['batch', D] },
    vq_decoder: { ids: ['batch', N], pixels: ['batch', 3, R, R] },
    text_encoder: { input_ids: ['batch', L], embedding: ['batch', D] },
  };
}

function shapeProblems(name: GraphName, graph: GraphSpec, m: Manifest): string[] {
  const expected = expectedShapes(m)[name];
  const problems: string[] = [];
  for (const [kind, specs] of [['inputs', graph.inputs], ['outputs', graph.outputs]] as const) {
    for (const spec of specs) {
      const shape = expected[spec.name];
      if (shape !== undefined && JSON.stringify(spec.shape) !== JSON.stringify(shape)) {
        problems.push(`graphs.${name}.${kind} '${spec.name}': shape ${JSON.stringify(spec.shape)} expected ${JSON.stringify(shape)}`);
      }
    }
  }
  return problems;
}

function manifestProblems(m: Manifest): string[] {
  const problems: string[] = [];
  const [gh, gw] = m.grid as [number, number];
  if (gh * gw !== m.num_tokens) problems.push(`grid ${gh}x${gw} does not give num_tokens ${m.num_tokens}`);
  if (gh * m.patch_size !== m.image_size || gw * m.patch_size !== m.image_size) {
    problems.push(`grid ${gh}x${gw} with patch_size ${m.patch_size} does not give image_size ${m.image_size}`);
  }
  if (m.codebook.size > 2 ** 32) problems.push(`codebook.size ${m.codebook.size} exceeds 2^32`);
  if (m.graphs.text_encoder && m.text === null) problems.push('graphs.text_encoder exists but text is null');
  for (const name of GRAPH_NAMES) {
    const graph = m.graphs[name];
    if (graph === undefined) continue;
    problems.push(...contractProblems(name, 'inputs', graph.inputs, `manifest graphs.${name}`));
    problems.push(...contractProblems(name, 'outputs', graph.outputs, `manifest graphs.${name}`));
    problems.push(...shapeProblems(name, graph, m));
    for (const file of [graph.file, ...(graph.external_data ?? [])]) {
      if (!(file in m.files)) problems.push(`graphs.${name}: file ${file} is not listed in files`);
    }
  }
  if (m.text?.tokenizer && !(m.text.tokenizer in m.files)) {
    problems.push(`text.tokenizer: file ${m.text.tokenizer} is not listed in files`);
  }
  if (!m.graphs.vq_encoder && !m.graphs.semantic_encoder && !m.graphs.vq_decoder && !m.graphs.text_encoder) {
    problems.push('graphs: the bundle has no graph');
  }
  return problems;
}

async function fileProblems(dir: string, m: Manifest, verifyChecksums: boolean): Promise<string[]> {
  const checks = Object.entries(m.files).map(async ([file, entry]) => {
    if (file.includes('..') || file.startsWith('/')) return [`files: ${file} leaves the bundle folder`];
    const path = join(dir, file);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined || !info.isFile()) return [`${file}: missing`];
    if (info.size !== entry.size) return [`${file}: size ${info.size}, manifest says ${entry.size}`];
    if (verifyChecksums) {
      const digest = await sha256File(path);
      if (digest !== entry.sha256) return [`${file}: sha256 ${digest}, manifest says ${entry.sha256}`];
    }
    return [];
  });
  return (await Promise.all(checks)).flat();
}

export async function loadBundle(dir: string, options: { verifyChecksums: boolean }): Promise<ModelBundle> {
  const where = (p: string) => `${dir}: ${p}`;
  let json: unknown;
  let digest: string;
  try {
    const bytes = await readFile(join(dir, 'manifest.json'));
    digest = createHash('sha256').update(bytes).digest('hex');
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new BundleError([where(`manifest.json unreadable: ${(error as Error).message}`)]);
  }
  const schemaErrors = [...Value.Errors(ManifestSchema, json)].map((e) => `manifest${e.instancePath.replaceAll('/', '.')}: ${e.message}`);
  if (schemaErrors.length > 0) throw new BundleError(schemaErrors.slice(0, 20).map(where));
  const manifest = json as Manifest;

  const problems = [...manifestProblems(manifest), ...(await fileProblems(dir, manifest, options.verifyChecksums))];
  if (problems.length > 0) throw new BundleError(problems.map(where));

  let textTokenizer: TextTokenizer | undefined;
  if (manifest.text?.tokenizer) {
    try {
      const tokenizerJson = JSON.parse(await readFile(join(dir, manifest.text.tokenizer), 'utf8')) as object;
      textTokenizer = new TextTokenizer(tokenizerJson, manifest.text);
    } catch (error) {
      throw new BundleError([where(`${manifest.text.tokenizer}: cannot load tokenizer: ${(error as Error).message}`)]);
    }
  }

  const graphPaths: Partial<Record<GraphName, string>> = {};
  for (const name of GRAPH_NAMES) {
    const graph = manifest.graphs[name];
    if (graph) graphPaths[name] = join(dir, graph.file);
  }
  return Object.freeze({
    id: manifest.name,
    dir,
    manifest,
    graphPaths: Object.freeze(graphPaths),
    capabilities: Object.freeze(capabilitiesOf(manifest.graphs, textTokenizer !== undefined)),
    imageSize: manifest.image_size,
    grid: [manifest.grid[0], manifest.grid[1]] as [number, number],
    numTokens: manifest.num_tokens,
    codebookSize: manifest.codebook.size,
    embeddingDim: manifest.embedding_dim,
    textTokenizer,
    digest,
  });
}

/** Loads every sub-folder of modelsDir that holds a manifest.json. */
export async function loadRegistry(
  modelsDir: string,
  options: { verifyChecksums: boolean; defaultModel?: string | undefined; log?: Logger },
): Promise<ModelRegistry> {
  const entries = await readdir(modelsDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    throw new BundleError([`models directory ${modelsDir}: ${error.code === 'ENOENT' ? 'does not exist' : error.message}`]);
  });
  const dirs: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const dir = join(modelsDir, entry.name);
    if ((await stat(join(dir, 'manifest.json')).catch(() => undefined))?.isFile()) dirs.push(dir);
  }
  if (dirs.length === 0) {
    throw new BundleError([
      `no model bundle under ${modelsDir}: put a bundle folder with a manifest.json there ` +
        '(docs/bundle-format.md) or point TOKLIP_MODELS_DIR at one',
    ]);
  }
  const results = await Promise.allSettled(dirs.map((dir) => loadBundle(dir, options)));
  const problems = results.flatMap((r) =>
    r.status === 'rejected' ? (r.reason instanceof BundleError ? r.reason.problems : [String(r.reason)]) : [],
  );
  const bundles = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const seen = new Map<string, string>();
  for (const b of bundles) {
    const other = seen.get(b.id);
    if (other !== undefined) problems.push(`model id '${b.id}' is used by both ${other} and ${b.dir}`);
    seen.set(b.id, b.dir);
  }
  if (problems.length > 0) throw new BundleError(problems);
  const registry = new ModelRegistry(bundles, options.defaultModel);
  for (const b of registry.list()) {
    options.log?.info({ model: b.id, dir: b.dir, capabilities: b.capabilities }, 'model bundle loaded');
  }
  return registry;
}
