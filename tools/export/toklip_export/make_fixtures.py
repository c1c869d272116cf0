"""Regenerates test/fixtures/bundles/tiny-64: a tiny TokLIP (64 px, 4x4 tokens, 64 codes, a
32-wide ViT and text tower, a word-level tokenizer) exported from a random checkpoint laid out
exactly like the released files (dict with 'state_dict', 'module.' prefix, AdamW state with
numpy scalars, no logit_bias, VQ inside), with golden data. The service tests use it.

Also writes test/fixtures/bundles-float16/tiny-64-f16: the same checkpoint exported with
--dtype float16, whose golden data the parity test checks with the float16 criteria. It lives
outside test/fixtures/bundles so that the test servers (which serve that folder) load one model.

    tools/python -m toklip_export.make_fixtures [--only tiny-64|tiny-64-f16]
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import torch

from . import export
from .config import tiny_config
from .layouts import training_checkpoint
from .model import build_model
from .tokenizer import REPO_ROOT

FIXTURES = os.path.join(REPO_ROOT, "test", "fixtures", "bundles")
FLOAT16_FIXTURES = os.path.join(REPO_ROOT, "test", "fixtures", "bundles-float16")
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]  # ids 0..3, as in the Gemma vocabulary
WORDS = ("a an the photo picture diagram drawing of with and or on in cat dog bird car tree house "
         "red green blue yellow black white stripes dots circle square sky sea city night day "
         "small big old new two three man woman child people street road boat plane flower "
         "food table chair book phone computer mountain river snow grass horse fish cup bottle "
         "window door").split()


def tiny_tokenizer(vocab_size: int) -> dict:
    """Word-level vocabulary in a WordPiece model (no sub-words): tokenizers.js gives unknown
    words the <unk> id (a WordLevel model would give them no id without tokenizer_config.json).
    Like Gemma's tokenizer.json, encode() adds <bos> unless add_special_tokens is false."""
    words = WORDS[: vocab_size - len(SPECIALS)]
    vocab = {tok: i for i, tok in enumerate(SPECIALS + words)}
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in enumerate(SPECIALS)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "<unk>", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def make_tiny(out_dir: str, seed: int = 0, name: str = "tiny-64", dtype: str = "float32") -> None:
    cfg = tiny_config(64, vocab_size=len(SPECIALS) + len(WORDS), context_length=16)
    model = build_model(cfg, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "TokLIP_tiny_64.pt")
        torch.save(training_checkpoint(model), ckpt)
        tok = os.path.join(tmp, "tokenizer.json")
        with open(tok, "w") as f:
            json.dump(tiny_tokenizer(cfg.text.vocab_size), f, indent=1)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        code = export.main(["--checkpoint", ckpt, "--tokenizer", tok, "--out", out_dir, "--name", name,
                            "--dtype", dtype,
                            "--description", "tiny random TokLIP for tests (64 px, 4x4 tokens%s); not a real model"
                            % (", float16" if dtype == "float16" else ""),
                            "--vision-heads", str(cfg.vision.heads), "--text-heads", str(cfg.text.heads),
                            "--vq-norm-groups", str(cfg.vq.norm_groups), "--golden", "--threads", "2"])
    if code != 0:
        raise SystemExit(code)


FIXTURE_BUILDS = {
    "tiny-64": lambda: make_tiny(os.path.join(FIXTURES, "tiny-64")),
    "tiny-64-f16": lambda: make_tiny(os.path.join(FLOAT16_FIXTURES, "tiny-64-f16"), name="tiny-64-f16", dtype="float16"),
}

if __name__ == "__main__":
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    for fixture, build in FIXTURE_BUILDS.items():
        if only in (None, fixture):
            build()
