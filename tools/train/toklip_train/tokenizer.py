"""Word-level tokenizer for the scene captions, written as a Hugging Face tokenizer.json.

Conventions (those of the bundle manifest, as for SigLIP2's tokenizer): pad 0, eos 1, bos 2,
unk 3; no BOS; EOS appended; right-padded with PAD to the context length; a long text is
truncated so that EOS stays at the last position.

The file uses the WordPiece model with a whole-word vocabulary and no '##' continuation pieces,
which makes it a word-level tokenizer: a word is either in the vocabulary or becomes <unk>.
(tokenizers.js resolves unknown words of a WordLevel model only when a tokenizer_config.json
supplies unk_token; a bundle carries tokenizer.json alone, so WordPiece is the robust choice.)
The special tokens carry the ids 0-3 in the vocabulary and as added tokens.

`encode` below is the Python mirror used for training; tests check it against tokenizers.js.
"""
from __future__ import annotations

import html
import json
import re
import string
from pathlib import Path
from typing import Dict, Iterable, List, Sequence

from .scenes import COLOURS, POSITIONS, SHAPES, SIZES

PAD, EOS, BOS, UNK = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>")
CONTEXT_LENGTH = 24  # the longest caption is 17 words + EOS


def caption_words() -> List[str]:
    words = {"a", "and", "outlined"}
    words.update(COLOURS)
    words.update(SHAPES)
    words.update(SIZES)
    for p in POSITIONS:
        words.update(p.split())
    return sorted(words)


def vocabulary() -> Dict[str, int]:
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for w in caption_words():
        vocab[w] = len(vocab)
    return vocab


VOCAB = vocabulary()
_PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "]")
_WORDS = re.compile(r"\w+|[^\w\s]+")  # the Whitespace pre-tokenizer's pattern


def canonicalize(text: str) -> str:
    """The service's 'canonicalize' cleaning (spec section 4), minus ftfy: unescape HTML twice,
    strip, '_' -> ' ', delete ASCII punctuation, lowercase, collapse whitespace."""
    text = html.unescape(html.unescape(text)).strip().replace("_", " ")
    text = _PUNCTUATION.sub("", text).lower()
    return " ".join(text.split())


def encode(text: str, context_length: int = CONTEXT_LENGTH) -> List[int]:
    """ids for one text: canonicalize, words -> ids (unknown -> UNK), EOS, PAD to the length."""
    ids = [VOCAB.get(w, UNK) for w in _WORDS.findall(canonicalize(text))]
    ids = ids[: context_length - 1] + [EOS]
    return ids + [PAD] * (context_length - len(ids))


def encode_batch(texts: Iterable[str], context_length: int = CONTEXT_LENGTH) -> List[List[int]]:
    return [encode(t, context_length) for t in texts]


def tokenizer_json(vocab: Dict[str, int] = VOCAB) -> dict:
    added = [
        {"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, tok in enumerate(SPECIAL_TOKENS)
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {
            "type": "WordPiece",
            "unk_token": "<unk>",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": vocab,
        },
    }


def write_tokenizer(path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tokenizer_json(), indent=2) + "\n")
    return path


def decode(ids: Sequence[int]) -> str:
    inv = {i: w for w, i in VOCAB.items()}
    return " ".join(inv[i] for i in ids if i not in (PAD, EOS, BOS))


if __name__ == "__main__":
    import sys

    out = write_tokenizer(sys.argv[1] if len(sys.argv) > 1 else "tokenizer.json")
    print(f"wrote {out} ({len(VOCAB)} tokens)")
