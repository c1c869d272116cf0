/** Texts -> input_ids rows with the model's own tokenizer (cleaning, EOS, padding per manifest). */
import { ServiceError } from '../../errors.js';
import type { ModelBundle } from '../../models/registry.js';

export function tokenizeTexts(model: ModelBundle, texts: readonly string[]): Int32Array[] {
  const tokenizer = model.textTokenizer;
  if (tokenizer === undefined) throw new ServiceError('capability_unavailable', `model ${model.id} has no text tokenizer`);
  return texts.map((text, row) => {
    try {
      return tokenizer.encode(text);
    } catch (error) {
      throw new ServiceError('invalid_text', `texts[${row}]: ${(error as Error).message}`, { extensions: { position: { row } } });
    }
  });
}
