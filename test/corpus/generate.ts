/**
 * Writes the hostile corpus to a folder, one request per case, to replay against any server
 * (for example a deployed one with curl):
 *
 *   node --import tsx test/corpus/generate.ts --out /tmp/corpus [--max-inputs 64] [--body-limit-mb 32]
 *
 * <out>/cases.json lists every case (method, path, headers, body file, expected status, code,
 * detail pattern, sha256 of the body); <out>/bodies/NNNN.bin holds the bodies. The expectations
 * assume the tiny-64 fixture model unless --model/--num-tokens/--codebook-size say otherwise.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_TEXT_CHARS } from '../../src/engine/texts.js';
import { TINY, TINY_MODEL } from '../helpers/golden.js';
import { buildCorpus } from './corpus.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'corpus-out' },
    model: { type: 'string', default: TINY_MODEL },
    'num-tokens': { type: 'string', default: String(TINY.numTokens) },
    'codebook-size': { type: 'string', default: String(TINY.codebookSize) },
    'max-inputs': { type: 'string', default: '64' },
    'body-limit-mb': { type: 'string', default: '32' },
  },
});

const image = (await readFile(new URL('../fixtures/bundles/tiny-64/golden/image_0.png', import.meta.url))).toString('base64');
const cases = await buildCorpus(
  {
    model: values.model,
    numTokens: Number(values['num-tokens']),
    codebookSize: Number(values['codebook-size']),
    maxInputs: Number(values['max-inputs']),
    bodyLimitBytes: Math.floor(Number(values['body-limit-mb']) * 2 ** 20),
    maxTextChars: MAX_TEXT_CHARS,
  },
  image,
);
await mkdir(join(values.out, 'bodies'), { recursive: true });
const index = await Promise.all(
  cases.map(async (c, i) => {
    const file = c.body === undefined ? null : join('bodies', `${String(i).padStart(4, '0')}.bin`);
    if (file !== null) await writeFile(join(values.out, file), c.body!);
    return {
      name: c.name,
      method: c.method,
      path: c.path,
      headers: c.headers,
      body: file,
      sha256: c.body === undefined ? null : createHash('sha256').update(c.body).digest('hex'),
      expect: { status: c.expect.status, code: c.expect.code ?? null, detail: c.expect.detail?.source ?? null },
    };
  }),
);
await writeFile(join(values.out, 'cases.json'), `${JSON.stringify(index, null, 2)}\n`);
process.stdout.write(`${cases.length} cases written to ${values.out}\n`);
