/** Texts -> input_ids rows with the model's own tokenizer (cleaning, EOS, padding per manifest). */
import { ServiceError } from '../../errors.js';
import type { ModelBundle } from '../../models/registry.js';
import { MAX_TEXT_CHARS } from '../schemas/inference.js';

/** A UTF-16 surrogate without its partner (a JSON \\uD800 escape can carry one): not Unicode text. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function invalid(field: string, row: number, detail: string): ServiceError {
  return new ServiceError('invalid_text', `${field}[${row}] ${detail}`, { extensions: { position: { row } } });
}

/**
 * Refuses texts over MAX_TEXT_CHARS (tokenization runs on the event loop), texts that are not
 * Unicode (unpaired surrogates), and texts the model's cleaning empties (only control
 * characters, punctuation or white space): their embedding would mean nothing.
 */
export function tokenizeTexts(model: ModelBundle, texts: readonly string[], field = 'texts'): Int32Array[] {
  const tokenizer = model.textTokenizer;
  if (tokenizer === undefined) throw new ServiceError('capability_unavailable', `model ${model.id} has no text tokenizer`);
  return texts.map((text, row) => {
    // The schemas of /v1/encode and /v1/similarity bound texts too; /v1/embeddings cannot (its strings may be images).
    if (text.length > MAX_TEXT_CHARS) throw invalid(field, row, `has ${text.length} characters; at most ${MAX_TEXT_CHARS} are accepted`);
    const surrogate = LONE_SURROGATE.exec(text);
    if (surrogate) throw invalid(field, row, `is not valid Unicode: unpaired surrogate U+${surrogate[0].charCodeAt(0).toString(16).toUpperCase()} at index ${surrogate.index}`);
    if (tokenizer.cleaned(text) === '') {
      throw invalid(field, row, "is empty after the model's text cleaning (it holds only control characters, punctuation or white space)");
    }
    try {
      return tokenizer.encode(text);
    } catch (error) {
      throw invalid(field, row, `could not be tokenized: ${(error as Error).message}`);
    }
  });
}
