// Tokenises texts with @huggingface/tokenizers, the library the service uses.
// stdin: {"tokenizer": "/path/tokenizer.json", "texts": ["..."]}; stdout: {"ids": [[...], ...]}
// Special tokens are not added: the caller lays out [tokens..., eos, pad...] itself.
import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';

const request = JSON.parse(readFileSync(0, 'utf8'));
const tokenizer = new Tokenizer(JSON.parse(readFileSync(request.tokenizer, 'utf8')), {});
const ids = request.texts.map((text) => {
  const encoded = tokenizer.encode(text, { add_special_tokens: false }).ids;
  const bad = encoded.findIndex((id) => !Number.isInteger(id));
  if (bad >= 0) throw new Error(`token ${bad} of ${JSON.stringify(text)} has no id`);
  return encoded;
});
process.stdout.write(JSON.stringify({ ids }));
