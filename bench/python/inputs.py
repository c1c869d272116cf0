"""The benchmark inputs of bench/lib/bundle.ts, bit for bit (numpy + torch tensors).

Each element comes from a 32-bit integer hash of its index (murmur3's finaliser), which
uint32 arithmetic computes identically in JavaScript and numpy.

    python3 inputs.py sha256 pixels|ids|text BATCH SIZE_OR_TOKENS [CODEBOOK_OR_VOCAB]
"""
from __future__ import annotations

import hashlib
import sys

import numpy as np


def hash32(index: np.ndarray, seed: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = index.astype(np.uint32) * np.uint32(0x9E3779B1) + np.uint32(seed)
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x85EBCA6B)
        x ^= x >> np.uint32(13)
        x *= np.uint32(0xC2B2AE35)
        x ^= x >> np.uint32(16)
    return x


def pixels(batch: int, size: int) -> np.ndarray:
    """[batch, 3, R, R] float32 in [-1, 1)."""
    n = batch * 3 * size * size
    v = (hash32(np.arange(n, dtype=np.uint32), 1) >> np.uint32(8)).astype(np.float32) / np.float32(2 ** 24)
    return (v * np.float32(2) - np.float32(1)).astype(np.float32).reshape(batch, 3, size, size)


def ids(batch: int, tokens: int, codebook: int) -> np.ndarray:
    v = hash32(np.arange(batch * tokens, dtype=np.uint32), 2) % np.uint32(codebook)
    return v.astype(np.int64).reshape(batch, tokens)


def text(batch: int, length: int, vocab: int) -> np.ndarray:
    """12 word pieces (ids >= 3), EOS (1), then padding (0)."""
    out = np.zeros((batch, length), dtype=np.int64)
    words = min(12, length - 1)
    for b in range(batch):
        idx = np.arange(b * length, b * length + words, dtype=np.uint32)
        out[b, :words] = 3 + hash32(idx, 3) % np.uint32(vocab - 3)
        out[b, words] = 1
    return out


def pixel_input(batch: int, size: int):
    import torch
    return torch.from_numpy(pixels(batch, size))


def id_input(batch: int, tokens: int, codebook: int):
    import torch
    return torch.from_numpy(ids(batch, tokens, codebook))


def text_input(batch: int, length: int, vocab: int):
    import torch
    return torch.from_numpy(text(batch, length, vocab))


if __name__ == "__main__" and len(sys.argv) >= 5 and sys.argv[1] == "sha256":
    kind, args = sys.argv[2], [int(a) for a in sys.argv[3:]]
    array = {"pixels": pixels, "ids": ids, "text": text}[kind](*args)
    print(hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest())
