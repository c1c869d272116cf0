/** Texts -> input_ids rows with the model's own tokenizer (cleaning, EOS, padding per manifest). */
import { ServiceError } from '../../errors.js';
import type { ModelBundle } from '../../models/registry.js';

/** A UTF-16 surrogate without its partner (a JSON \\uD800 escape can carry one): not Unicode text. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function invalid(row: number, detail: string): ServiceError {
  return new ServiceError('invalid_text', `texts[${row}] ${detail}`, { extensions: { position: { row } } });
}

/**
 * Refuses texts that are not Unicode (unpaired surrogates) or that the model's cleaning empties
 * (only control characters, punctuation or white space): their embedding would mean nothing.
 */
export function tokenizeTexts(model: ModelBundle, texts: readonly string[]): Int32Array[] {
  const tokenizer = model.textTokenizer;
  if (tokenizer === undefined) throw new ServiceError('capability_unavailable', `model ${model.id} has no text tokenizer`);
  return texts.map((text, row) => {
    const surrogate = LONE_SURROGATE.exec(text);
    if (surrogate) throw invalid(row, `is not valid Unicode: unpaired surrogate U+${surrogate[0].charCodeAt(0).toString(16).toUpperCase()} at index ${surrogate.index}`);
    if (tokenizer.cleaned(text) === '') {
      throw invalid(row, "is empty after the model's text cleaning (it holds only control characters, punctuation or white space)");
    }
    try {
      return tokenizer.encode(text);
    } catch (error) {
      throw invalid(row, `could not be tokenized: ${(error as Error).message}`);
    }
  });
}
