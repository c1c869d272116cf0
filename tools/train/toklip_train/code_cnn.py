"""A small CNN over the grid of VQ code vectors that names the shapes of a scene.

Two uses: diagnose_shape.py trains it on frozen codes to measure how much shape the codes carry,
and stage A3 (vq_training.py, `scene_shape_weight`) trains it jointly with the VQ, so that its
gradient, through the straight-through estimator, teaches the encoder to keep in the codes what
tells shapes apart. The network is thrown away after training either way.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .scenes import SHAPES, Scene


class CodeGridCNN(nn.Module):
    """(B, C, g, g) code vectors -> per-token MLP (1x1 convolutions) -> 3 convolutions -> max pool
    -> one logit per shape."""

    def __init__(self, code_dim: int, hidden: int = 256, width: int = 64, channels: int = 128):
        super().__init__()
        self.embed = nn.Sequential(nn.Conv2d(code_dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, width, 1))
        self.convs = nn.Sequential(
            nn.Conv2d(width, channels, 3, padding=1), nn.GELU(), nn.Conv2d(channels, channels, 3, padding=1), nn.GELU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.GELU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
            nn.Linear(channels, len(SHAPES)))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.convs(self.embed(codes))


def code_grid(codebook: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Ids (B, g*g) in raster order -> their code vectors on the token grid (B, C, g, g)."""
    grid = int(ids.shape[1] ** 0.5)
    return codebook[ids].reshape(len(ids), grid, grid, -1).permute(0, 3, 1, 2)


def shapes_present(scenes: Sequence[Scene]) -> torch.Tensor:
    """(B, len(SHAPES)) float targets: 1 for every shape drawn in the scene (one or two)."""
    out = torch.zeros(len(scenes), len(SHAPES))
    for row, scene in enumerate(scenes):
        for shape in scene.shapes:
            out[row, SHAPES.index(shape.shape)] = 1.0
    return out
