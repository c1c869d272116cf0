/**
 * The other dataset commands: `toklip decode` turns a tokenize output (or a .npy of ids) back
 * into image files, the same bytes /v1/decode answers, resuming by skipping files that exist and
 * listing refused rows; `toklip embed-texts` turns one caption a line into text embeddings equal
 * to /v1/encode's, in process and through --server, listing refused lines.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { RunningServer } from '../../src/http/server.js';
import { TINY } from '../helpers/golden.js';
import { postJson, startTestServer } from '../helpers/server.js';
import { runCli } from './cli.js';
import { rows } from './duckdb.js';
import { makeFolder } from './fixtures.js';

/** A .npy file (format 1.0) of little-endian uint16 rows. */
function npy(rowsOfIds: number[][]): Buffer {
  const header = `{'descr': '<u2', 'fortran_order': False, 'shape': (${rowsOfIds.length}, ${rowsOfIds[0]!.length}), }`;
  const padded = header.padEnd(Math.ceil((10 + header.length + 1) / 64) * 64 - 10 - 1, ' ') + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(padded.length, 8);
  const data = Buffer.alloc(rowsOfIds.length * rowsOfIds[0]!.length * 2);
  rowsOfIds.flat().forEach((id, i) => data.writeUInt16LE(id, i * 2));
  return Buffer.concat([head, Buffer.from(padded, 'latin1'), data]);
}

describe('toklip decode and toklip embed-texts', () => {
  let root: string;
  let tokens: string;
  let server: RunningServer;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'toklip-decode-'));
    await makeFolder(join(root, 'photos'), 5);
    tokens = join(root, 'tokens');
    const run = await runCli(['tokenize', join(root, 'photos'), '--out', tokens, '--progress', 'off', '--max-errors', '100%']);
    assert.equal(run.code, 0, run.stderr);
    server = await startTestServer({ TOKLIP_CACHE_MB: '0' });
  });
  after(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('decodes a tokenize output to one image per row, the bytes of /v1/decode, and resumes', async () => {
    const out = join(root, 'decoded');
    const run = await runCli(['decode', tokens, '--out', out, '--format', 'png', '--progress', 'off']);
    assert.equal(run.code, 0, run.stderr);
    const dataset = await rows(tokens, 'key, ids');
    for (const row of dataset) {
      const file = await readFile(join(out, `${row.key as string}.png`));
      const meta = await sharp(file).metadata();
      assert.deepEqual([meta.width, meta.height], [TINY.imageSize, TINY.imageSize]);
    }
    const first = dataset[0]!;
    const served = await postJson(`${server.url}/v1/decode`, { tokens: [first.ids], format: 'png' });
    assert.ok(Buffer.from(served.json.images[0].data, 'base64').equals(await readFile(join(out, `${first.key as string}.png`))));
    const again = await runCli(['decode', tokens, '--out', out, '--progress', 'off']);
    assert.match(again.stdout, new RegExp(`0 image\\(s\\) written .*, ${dataset.length} already there`));
  });

  it('decodes a .npy of ids and lists the rows the model refuses', async () => {
    const ids = (await rows(tokens, 'ids')).slice(0, 2).map((r) => r.ids as number[]);
    const bad = [...ids[0]!];
    bad[5] = TINY.codebookSize;
    await writeFile(join(root, 'generated.npy'), npy([ids[0]!, bad, ids[1]!]));
    const out = join(root, 'from-npy');
    const run = await runCli(['decode', join(root, 'generated.npy'), '--out', out, '--format', 'jpeg', '--progress', 'off']);
    assert.equal(run.code, 3, 'a refused row: exit status 3');
    assert.deepEqual((await readdir(out)).filter((n) => n.endsWith('.jpg')).sort(), ['generated-0.jpg', 'generated-2.jpg']);
    const errors = (await readFile(join(out, 'errors.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(errors.map((e) => [e.key, e.code]), [['generated-1', 'invalid_tokens']]);
    assert.match(errors[0].detail, /\[5\] = 64 is outside the codebook \[0, 64\)/);
  });

  it('embeds one text a line like /v1/encode, in process and through --server, listing refused lines', async () => {
    const texts = ['a red circle', '', 'a small blue square', '!!! ???', 'a green triangle'];
    await writeFile(join(root, 'captions.txt'), `${texts.join('\n')}\n`);
    const served = await postJson(`${server.url}/v1/encode`, { texts: [texts[0], texts[2], texts[4]] });
    for (const [name, extra] of [['texts', []], ['texts-via-server', ['--server', server.url]]] as const) {
      const out = join(root, name);
      const run = await runCli(['embed-texts', join(root, 'captions.txt'), '--out', out, '--progress', 'off', '--shard-size', '2', ...extra]);
      assert.equal(run.code, 3, `${name}: two refused lines; ${run.stderr}`);
      const got = await rows(out, 'line, text, embedding, unknown_words');
      assert.deepEqual(got.map((r) => [r.line, r.text]), [[1, texts[0]], [3, texts[2]], [5, texts[4]]]);
      got.forEach((r, i) => (r.embedding as number[]).forEach((v, j) => assert.ok(Math.abs(v - served.json.embeddings[i][j]) < 1e-6, `${name} line ${r.line} [${j}]`)));
      const errors = (await readFile(join(out, 'errors.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(errors.map((e) => [e.key, e.code]), [['2', 'invalid_text'], ['4', 'invalid_text']]);
      assert.equal(errors[0].detail, 'the line is empty');
      assert.match(errors[1].detail, /^is empty after the model's text cleaning/);
      const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
      assert.equal(manifest.kind, 'text-embeddings');
      assert.deepEqual(manifest.counts, { rows: 3, errors: 2, inputs: 5, shards: 3 });
    }
  });
});
