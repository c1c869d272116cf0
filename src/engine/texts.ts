/**
 * Texts -> input_ids rows with the model's own tokenizer (cleaning, EOS, padding per manifest),
 * and the words of each text that the vocabulary cannot represent.
 */
import { ServiceError } from '../errors.js';
import type { ModelBundle } from '../models/registry.js';

/** Longest text accepted (tokenization runs on the event loop). */
export const MAX_TEXT_CHARS = 4096;

/** A UTF-16 surrogate without its partner (a JSON \\uD800 escape can carry one): not Unicode text. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export interface TokenizedText {
  /** context_length ids. */
  readonly ids: Int32Array;
  /** Ids that are not padding (OpenAI's usage counts). */
  readonly tokenCount: number;
  /** Words the vocabulary cannot represent (they became its unknown token); empty for byte-level vocabularies. */
  readonly unknownWords: readonly string[];
}

function invalid(field: string, row: number, detail: string): ServiceError {
  return new ServiceError('invalid_text', `${field}[${row}] ${detail}`, { extensions: { position: { row } } });
}

/**
 * Refuses texts over MAX_TEXT_CHARS, texts that are not Unicode (unpaired surrogates), and
 * texts the model's cleaning empties (only control characters, punctuation or white space):
 * their embedding would mean nothing. `field` names the texts in errors (texts, input).
 */
export function tokenizeTexts(model: ModelBundle, texts: readonly string[], field = 'texts'): TokenizedText[] {
  const tokenizer = model.textTokenizer;
  if (tokenizer === undefined) throw new ServiceError('capability_unavailable', `model ${model.id} has no text tokenizer`);
  const pad = model.manifest.text?.pad_id;
  return texts.map((text, row) => {
    if (text.length > MAX_TEXT_CHARS) throw invalid(field, row, `has ${text.length} characters; at most ${MAX_TEXT_CHARS} are accepted`);
    const surrogate = LONE_SURROGATE.exec(text);
    if (surrogate) throw invalid(field, row, `is not valid Unicode: unpaired surrogate U+${surrogate[0].charCodeAt(0).toString(16).toUpperCase()} at index ${surrogate.index}`);
    if (tokenizer.cleaned(text) === '') {
      throw invalid(field, row, "is empty after the model's text cleaning (it holds only control characters, punctuation or white space)");
    }
    try {
      const ids = tokenizer.encode(text);
      return { ids, tokenCount: ids.filter((id) => id !== pad).length, unknownWords: tokenizer.unknownWords(text) };
    } catch (error) {
      throw invalid(field, row, `could not be tokenized: ${(error as Error).message}`);
    }
  });
}
