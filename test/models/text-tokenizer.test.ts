import assert from 'node:assert/strict';
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

  it('truncates so that EOS stays last', () => {
    assert.deepEqual([...tokenizer.encode('a photo of a cat a photo of a dog')], [4, 5, 6, 4, 7, 4, 5, 1]);
  });

  it('adds BOS when the manifest says so', () => {
    const withBos = new TextTokenizer(WORD_TOKENIZER, { ...spec, add_bos: true });
    assert.deepEqual([...withBos.encode('a cat')], [2, 4, 7, 1, 0, 0, 0, 0]);
    assert.deepEqual([...withBos.encode('a photo of a cat a photo')], [2, 4, 5, 6, 4, 7, 4, 1]);
  });
});
