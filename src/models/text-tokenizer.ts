/**
 * Texts -> fixed-length input_ids rows for text_encoder, as the bundle's manifest says:
 * cleaning, then the bundle's tokenizer.json (@huggingface/tokenizers) without its own special
 * tokens, then BOS (if add_bos), EOS appended, right padding with PAD to context_length.
 * Truncation keeps EOS as the last token.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { CLEANERS } from './text-cleaning.js';
import type { TextSpec } from './manifest.js';

export class TextTokenizer {
  readonly contextLength: number;
  private readonly tokenizer: Tokenizer;
  private readonly spec: TextSpec;
  private readonly clean: (text: string) => string;

  constructor(tokenizerJson: object, spec: TextSpec) {
    // tokenizers.js reads unk_token of WordLevel-style vocabularies from the tokenizer config.
    const model = (tokenizerJson as { model?: { unk_token?: unknown } }).model;
    this.tokenizer = new Tokenizer(tokenizerJson, typeof model?.unk_token === 'string' ? { unk_token: model.unk_token } : {});
    this.spec = spec;
    this.contextLength = spec.context_length;
    this.clean = CLEANERS[spec.cleaning];
  }

  /** The text after the manifest's cleaning (what the tokenizer sees). */
  cleaned(text: string): string {
    return this.clean(text);
  }

  /** One row of exactly contextLength ids. */
  encode(text: string): Int32Array {
    const { spec } = this;
    const body = this.tokenizer.encode(this.clean(text), { add_special_tokens: false }).ids;
    if (body.some((id: number) => !Number.isInteger(id))) throw new Error('the tokenizer has no id for a token of this text');
    const row = new Int32Array(this.contextLength).fill(spec.pad_id);
    const prefix = spec.add_bos ? [spec.bos_id] : [];
    const reserved = prefix.length + (spec.append_eos ? 1 : 0);
    const kept = body.slice(0, Math.max(0, this.contextLength - reserved));
    const ids = [...prefix, ...kept, ...(spec.append_eos ? [spec.eos_id] : [])];
    row.set(ids.slice(0, this.contextLength));
    return row;
  }
}
