/**
 * What a newcomer meets first, through the real service (the browser and `npm start` tests are
 * in test/first-contact/):
 * - every request example of the served OpenAPI document answers 2xx, on the shipped model and
 *   on another bundle (the examples are rebound to the model actually served);
 * - answers that embed or score texts name the words the model cannot represent, and none for
 *   captions it knows;
 * - a request with the most images allowed prints no process warning.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/http/server.js';
import { EXAMPLE_PNG } from '../../src/http/schemas/examples.js';
import { postJson, startTestServer } from '../helpers/server.js';

const MODELS_DIR = fileURLToPath(new URL('../../models', import.meta.url));

interface MediaType {
  readonly example?: unknown;
  readonly examples?: Record<string, { value: unknown }>;
}

interface Operation {
  readonly requestBody?: { content: Record<string, MediaType> };
  readonly parameters?: { in: string; name: string; example?: unknown }[];
}

/** Every (operation, example) pair the document offers, the way Swagger UI sends them (JSON bodies, path parameters from their examples). */
function examplesOf(document: { paths: Record<string, Record<string, Operation>> }): { label: string; path: string; method: string; body?: unknown }[] {
  const out: { label: string; path: string; method: string; body?: unknown }[] = [];
  for (const [template, operations] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      let path = template;
      for (const p of op.parameters ?? []) {
        if (p.in === 'path') path = path.replace(`{${p.name}}`, String(p.example));
      }
      const json = op.requestBody?.content['application/json'];
      const examples = json === undefined ? [] : json.example !== undefined ? [json.example] : Object.values(json.examples ?? {}).map((e) => e.value);
      if (op.requestBody === undefined) out.push({ label: `${method.toUpperCase()} ${template}`, path, method });
      examples.forEach((body, i) => out.push({ label: `${method.toUpperCase()} ${template} example ${i}`, path, method, body }));
    }
  }
  return out;
}

async function runExamples(server: RunningServer): Promise<string[]> {
  const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as Parameters<typeof examplesOf>[0];
  const failures: string[] = [];
  const cases = examplesOf(document);
  assert.ok(cases.filter((c) => c.body !== undefined).length >= 6, 'the document holds request examples');
  for (const c of cases) {
    const res =
      c.body === undefined
        ? await fetch(`${server.url}${c.path}`, { method: c.method.toUpperCase() })
        : await fetch(`${server.url}${c.path}`, { method: c.method.toUpperCase(), headers: { 'content-type': 'application/json' }, body: JSON.stringify(c.body) });
    if (res.status >= 300) failures.push(`${c.label}: ${res.status} ${(await res.text()).slice(0, 200)}`);
    else await res.arrayBuffer();
  }
  return failures;
}

describe('first contact on the shipped model', () => {
  let server: RunningServer;
  before(async () => {
    server = await startTestServer({ TOKLIP_MODELS_DIR: MODELS_DIR });
  });
  after(() => server?.close());

  it('every request example of /openapi.json answers 2xx', async () => {
    assert.deepEqual(await runExamples(server), []);
  });

  it('texts with words the model does not know say which, in every answer that embeds or scores texts', async () => {
    const texts = ['a red circle', 'a cat near a blue square'];
    const encode = await postJson(`${server.url}/v1/encode`, { texts });
    assert.equal(encode.status, 200, encode.text);
    assert.deepEqual(encode.json.unknown_words, [[], ['cat', 'near']]);
    const similarity = await postJson(`${server.url}/v1/similarity`, { images: [EXAMPLE_PNG], texts });
    assert.equal(similarity.status, 200, similarity.text);
    assert.deepEqual(similarity.json.unknown_words, [[], ['cat', 'near']]);
    const embeddings = await postJson(`${server.url}/v1/embeddings`, { input: texts });
    assert.equal(embeddings.status, 200, embeddings.text);
    assert.deepEqual(embeddings.json.unknown_words, [[], ['cat', 'near']]);
    const images = await postJson(`${server.url}/v1/embeddings`, { input: [EXAMPLE_PNG], modality: 'image' });
    assert.equal(images.json.unknown_words, undefined, 'images have no words');
  });

  it('the example captions are known to the shipped model and it scores them as a person would', async () => {
    const res = await postJson(`${server.url}/v1/similarity`, { images: [EXAMPLE_PNG], texts: ['a red circle', 'a blue square'] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.unknown_words, [[], []]);
    const [red, blue] = res.json.probabilities[0] as [number, number];
    assert.ok(red > blue, `a red disc on white: "a red circle" ${red} against "a blue square" ${blue}`);
  });

  it('a request with 64 images prints no process warning (one abort listener per request)', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const res = await postJson(`${server.url}/v1/encode`, { images: Array.from({ length: 64 }, () => EXAMPLE_PNG) });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.embeddings.length, 64);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), []);
  });
});

describe('first contact on another bundle (the test fixture)', () => {
  let server: RunningServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  it('the served document names the served model and every request example answers 2xx', async () => {
    const text = await (await fetch(`${server.url}/openapi.json`)).text();
    assert.doesNotMatch(text, /toklip-scenes-128/, 'no example names a model this instance does not serve');
    assert.deepEqual(await runExamples(server), []);
    const docs = await (await fetch(`${server.url}/docs/json`)).text();
    assert.equal(docs, text, 'Swagger UI gets the same document');
  });
});
