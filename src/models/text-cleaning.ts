/**
 * Text cleaning before tokenization (spec section 4, open_clip `clean: canonicalize`):
 * ftfy fix_text, HTML-unescape twice, strip, '_' -> ' ', delete ASCII punctuation, lowercase,
 * collapse whitespace, strip.
 *
 * ftfy is a Python library; fixText() below covers its default fixes that change ordinary
 * input (line breaks, terminal escapes, control characters, curly quotes, Latin ligatures,
 * full-width forms, NFC). Mojibake repair (fix_encoding) is not reproduced: texts that are
 * double-encoded UTF-8 tokenize as they are.
 */
import { decodeHTML } from 'entities';

// Python's string.punctuation.
const ASCII_PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
const TERMINAL_ESCAPES = /\x1b\[[0-9;]*[A-Za-z]/g;
// ftfy remove_control_chars: C0 controls except \t \n \f \r, DEL, C1, and invisible format marks.
const CONTROL_CHARS = /[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
const LINE_BREAKS = /\r\n|[\r\u2028\u2029\u0085]/g;
const SINGLE_QUOTES = /[\u2018\u2019\u201a\u201b]/g;
const DOUBLE_QUOTES = /[\u201c\u201d\u201e\u201f]/g;
// Latin ligatures (U+FB00-FB06) and full/half-width forms (U+FF01-FFEF, ideographic space):
// ftfy applies NFKC to these only.
const COMPATIBILITY_FORMS = /[\ufb00-\ufb06\uff01-\uffef\u3000]/g;
// Python's str.split() whitespace, which includes the information separators 0x1c-0x1f.
const WHITESPACE_RUN = /[\s\x1c-\x1f]+/g;

export function fixText(text: string): string {
  return text
    .replace(TERMINAL_ESCAPES, '')
    .replace(LINE_BREAKS, '\n')
    .replace(CONTROL_CHARS, '')
    .replace(SINGLE_QUOTES, "'")
    .replace(DOUBLE_QUOTES, '"')
    .replace(COMPATIBILITY_FORMS, (c) => c.normalize('NFKC'))
    .normalize('NFC');
}

function collapseWhitespace(text: string): string {
  return text.replace(WHITESPACE_RUN, ' ').trim();
}

export function canonicalize(text: string): string {
  let t = fixText(text);
  t = decodeHTML(decodeHTML(t));
  t = t.trim().replaceAll('_', ' ').replace(ASCII_PUNCTUATION, '').toLowerCase();
  return collapseWhitespace(t);
}

export function lowerWhitespace(text: string): string {
  return collapseWhitespace(text.toLowerCase());
}

export type CleaningName = 'canonicalize' | 'lower_whitespace';

export const CLEANERS: Record<CleaningName, (text: string) => string> = {
  canonicalize,
  lower_whitespace: lowerWhitespace,
};
