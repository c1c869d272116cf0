"""Batches of generated scenes as tensors: pixels in [-1, 1] (the TokLIP preprocessing of a
128 px image is exactly /255, (x-0.5)/0.5) and captions as token ids."""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
import torch

from .scenes import Scene, scene


def to_pixels(images: Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 (H,W,3) images -> float (B,3,H,W) in [-1, 1]."""
    arr = np.stack(images).astype(np.float32)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).div(127.5).sub(1.0).contiguous()


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """Decoder output (B,3,H,W) -> uint8 (B,H,W,3), LlamaGen's mapping (spec section 2.6)."""
    x = torch.clamp(127.5 * pixels + 128.0, 0.0, 255.0).to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def psnr(reference: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB of uint8 (B,H,W,3) arrays (peak 255)."""
    diff = reference.astype(np.float64) - reconstruction.astype(np.float64)
    mse = np.maximum((diff ** 2).reshape(len(diff), -1).mean(axis=1), 1e-10)
    return 10.0 * np.log10(255.0 ** 2 / mse)


def scene_batch(split: str, start: int, count: int, seed: int, **kw) -> List[Scene]:
    return [scene(split, i, seed, **kw) for i in range(start, start + count)]


def render(scenes: Sequence[Scene]) -> torch.Tensor:
    return to_pixels([s.render() for s in scenes])
