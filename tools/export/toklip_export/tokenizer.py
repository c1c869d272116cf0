"""Text-side settings of a bundle and tokenisation of the golden texts.

Tokenisation runs in Node with @huggingface/tokenizers (tools/export/tokenize.mjs), the library
the service uses, so golden ids and served ids come from the same implementation.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import List, Sequence

import numpy as np

EXPORT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(os.path.dirname(EXPORT_DIR))
TOKENIZE_SCRIPT = os.path.join(EXPORT_DIR, "tokenize.mjs")

# Special-token spellings, first match wins (SigLIP2/Gemma use <pad>=0, <eos>=1, <bos>=2).
_SPECIALS = {"pad": ("<pad>", "[PAD]"), "eos": ("<eos>", "</s>", "<|endoftext|>", "[SEP]"),
             "bos": ("<bos>", "<s>", "<|startoftext|>", "[CLS]")}


class TokenizerError(ValueError):
    pass


@dataclass(frozen=True)
class TextSettings:
    """How a text becomes input_ids: [tokens..., eos, pad, ...], no bos, right padding to L;
    truncation keeps eos at index L-1 (open_clip's SigLIP2 convention, spec section 4)."""

    context_length: int
    pad_id: int = 0
    eos_id: int = 1
    bos_id: int = 2
    add_bos: bool = False
    append_eos: bool = True

    @staticmethod
    def defaults(context_length: int) -> "TextSettings":
        return TextSettings(context_length)

    @staticmethod
    def from_tokenizer_json(path: str, context_length: int, vocab_size: int) -> "TextSettings":
        data = read_tokenizer_json(path)
        by_content = {t["content"]: int(t["id"]) for t in data.get("added_tokens", [])}
        vocab = data.get("model", {}).get("vocab")
        if isinstance(vocab, dict):
            by_content = {**{k: int(v) for k, v in vocab.items() if k in sum(_SPECIALS.values(), ())}, **by_content}
        ids = {}
        for role, spellings in _SPECIALS.items():
            found = [by_content[s] for s in spellings if s in by_content]
            if not found:
                raise TokenizerError(f"tokenizer {path} has no {role} token (looked for {', '.join(spellings)})")
            ids[role] = found[0]
        size = tokenizer_vocab_size(data)
        if size > vocab_size:
            raise TokenizerError(f"tokenizer {path} has {size} tokens but the text tower's embedding "
                                 f"has only {vocab_size} rows")
        return TextSettings(context_length, pad_id=ids["pad"], eos_id=ids["eos"], bos_id=ids["bos"])

    def layout(self, token_lists: Sequence[Sequence[int]]) -> np.ndarray:
        length = self.context_length
        out = np.full((len(token_lists), length), self.pad_id, dtype=np.int64)
        for i, tokens in enumerate(token_lists):
            seq = ([self.bos_id] if self.add_bos else []) + list(tokens)
            if self.append_eos:
                seq = seq[:length - 1] + [self.eos_id]
            seq = seq[:length]
            out[i, :len(seq)] = seq
        return out

    def to_manifest(self, tokenizer_file) -> dict:
        return {"context_length": self.context_length, "tokenizer": tokenizer_file,
                "cleaning": "canonicalize", "add_bos": self.add_bos, "bos_id": self.bos_id,
                "eos_id": self.eos_id, "pad_id": self.pad_id, "append_eos": self.append_eos,
                "padding": "right"}


def read_tokenizer_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise TokenizerError(f"cannot read tokenizer {path}: {e}") from e
    if not isinstance(data, dict) or "model" not in data:
        raise TokenizerError(f"{path} is not a Hugging Face tokenizer.json (no 'model' entry)")
    return data


def tokenizer_vocab_size(data: dict) -> int:
    vocab = data["model"].get("vocab", {})
    ids = list(vocab.values()) if isinstance(vocab, dict) else list(range(len(vocab)))
    ids += [int(t["id"]) for t in data.get("added_tokens", [])]
    return (max(ids) + 1) if ids else 0


def node_command() -> List[str]:
    node = shutil.which("node")
    if node is None:
        raise TokenizerError("node is not on PATH: tokenising golden texts and checking parity "
                             "need Node.js (>= 20) and `npm install` in the repository")
    if not os.path.isdir(os.path.join(REPO_ROOT, "node_modules", "@huggingface", "tokenizers")):
        raise TokenizerError(f"{REPO_ROOT}/node_modules/@huggingface/tokenizers is missing: run "
                             "`npm install` in the repository first")
    return [node]


def encode_texts(tokenizer_path: str, texts: Sequence[str], settings: TextSettings) -> np.ndarray:
    """Tokenise with @huggingface/tokenizers (no special tokens), then lay out as the service does."""
    request = json.dumps({"tokenizer": os.path.abspath(tokenizer_path), "texts": list(texts)})
    proc = subprocess.run(node_command() + [TOKENIZE_SCRIPT], input=request, capture_output=True,
                          text=True, cwd=REPO_ROOT)
    if proc.returncode != 0:
        raise TokenizerError(f"tokenising with {tokenizer_path} failed: {proc.stderr.strip()}")
    return settings.layout(json.loads(proc.stdout)["ids"])
