/**
 * The hostile corpus (corpus.ts) through a real socket: every case gets exactly its expected
 * status, problem code and detail, no request hangs, and afterwards the server is ready and
 * still gives the golden answer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/http/server.js';
import { MAX_TEXT_CHARS } from '../../src/engine/texts.js';
import { TINY, TINY_MODEL, loadGolden } from '../helpers/golden.js';
import { postJson, startTestServer } from '../helpers/server.js';
import { type CorpusCase, type CorpusTarget, buildCorpus } from './corpus.js';
import { mapLimit, mismatch, send } from './send.js';

const TARGET: CorpusTarget = {
  model: TINY_MODEL,
  numTokens: TINY.numTokens,
  codebookSize: TINY.codebookSize,
  maxInputs: 8,
  bodyLimitBytes: 2 * 2 ** 20,
  maxTextChars: MAX_TEXT_CHARS,
};

function digest(cases: readonly CorpusCase[]): string {
  const hash = createHash('sha256');
  for (const c of cases) hash.update(`${c.name}\n${c.method} ${c.path}\n${JSON.stringify(c.headers)}\n`).update(c.body ?? '');
  return hash.digest('hex');
}

describe('hostile corpus', () => {
  let server: RunningServer;
  let cases: CorpusCase[];
  let image: string;

  before(async () => {
    server = await startTestServer({ TOKLIP_MAX_IMAGES_PER_REQUEST: String(TARGET.maxInputs), TOKLIP_BODY_LIMIT_MB: '2' });
    image = (await loadGolden()).images[0]!.toString('base64');
    cases = await buildCorpus(TARGET, image);
  });
  after(() => server.close());

  it('is deterministic', async () => {
    assert.equal(digest(await buildCorpus(TARGET, image)), digest(cases));
    assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'case names are unique');
  });

  it('every case gets its exact answer, within the per-request timeout', async () => {
    const failures = (
      await mapLimit(cases, 6, async (c) => {
        try {
          const problem = mismatch(c, await send(server.url, c, 30_000));
          return problem === undefined ? undefined : `${c.name}: ${problem}`;
        } catch (error) {
          return `${c.name}: no answer (${(error as Error).message})`;
        }
      })
    ).filter((f): f is string => f !== undefined);
    assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases failed`);
    const statuses = new Set(cases.map((c) => c.expect.status));
    for (const s of [200, 400, 404, 413, 415, 422]) assert.ok(statuses.has(s), `the corpus covers ${s}`);
  });

  it('leaves the server ready and correct', async () => {
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    const golden = await loadGolden();
    const res = await postJson(`${server.url}/v1/tokenize`, { images: golden.images.map((b) => b.toString('base64')) });
    assert.deepEqual(res.json.tokens, await golden.rows('ids'));
  });
});
