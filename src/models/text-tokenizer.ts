/**
 * Texts -> fixed-length input_ids rows for text_encoder, as the bundle's manifest says:
 * cleaning, then the bundle's tokenizer.json (@huggingface/tokenizers) without its own special
 * tokens, then BOS (if add_bos), EOS appended, right padding with PAD to context_length.
 * Truncation keeps EOS as the last token.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { CLEANERS } from './text-cleaning.js';
import type { TextSpec } from './manifest.js';

/** The parts of tokenizers.js' Tokenizer that split a text into words (present on every tokenizer it builds). */
interface WordSplitter {
  normalizer?: { normalize(text: string): string } | null;
  pre_tokenizer?: { pre_tokenize(text: string): string[] } | null;
}

export class TextTokenizer {
  readonly contextLength: number;
  private readonly tokenizer: Tokenizer;
  private readonly spec: TextSpec;
  private readonly clean: (text: string) => string;
  /** Id of the vocabulary's unknown token, for vocabularies that have one and are not byte-level. */
  private readonly unknownId: number | undefined;

  constructor(tokenizerJson: object, spec: TextSpec) {
    // tokenizers.js reads unk_token of WordLevel-style vocabularies from the tokenizer config.
    const model = (tokenizerJson as { model?: { unk_token?: unknown; byte_fallback?: unknown } }).model;
    const unk = typeof model?.unk_token === 'string' ? model.unk_token : undefined;
    this.tokenizer = new Tokenizer(tokenizerJson, unk !== undefined ? { unk_token: unk } : {});
    this.spec = spec;
    this.contextLength = spec.context_length;
    this.clean = CLEANERS[spec.cleaning];
    // A byte-level vocabulary (byte_fallback) represents every text: nothing is unknown.
    const id = unk !== undefined && model?.byte_fallback !== true ? this.tokenizer.token_to_id(unk) : undefined;
    this.unknownId = typeof id === 'number' ? id : undefined;
  }

  /**
   * The words of a text that the vocabulary cannot represent (they become the unknown token), in
   * order, as the tokenizer's normalizer writes them. Empty for byte-level vocabularies.
   */
  unknownWords(text: string): string[] {
    const unk = this.unknownId;
    if (unk === undefined) return [];
    const cleaned = this.clean(text);
    if (!this.encodeBody(cleaned).includes(unk)) return [];
    const splitter = this.tokenizer as unknown as WordSplitter;
    const normalized = splitter.normalizer?.normalize(cleaned) ?? cleaned;
    const words = splitter.pre_tokenizer?.pre_tokenize(normalized) ?? normalized.split(/\s+/).filter(Boolean);
    return words.filter((word) => this.encodeBody(word).includes(unk));
  }

  private encodeBody(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** The text after the manifest's cleaning (what the tokenizer sees). */
  cleaned(text: string): string {
    return this.clean(text);
  }

  /** One row of exactly contextLength ids. */
  encode(text: string): Int32Array {
    const { spec } = this;
    const body = this.encodeBody(this.clean(text));
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
