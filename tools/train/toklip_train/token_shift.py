"""Shifted token grids for stage B: each scene's ids moved by whole tokens.

Why: the held-out scenes put each (colour, shape) at sizes and positions training never shows it
in, and the token ViT, with learnt absolute positions, might generalise across positions worse
than a CNN on the same codes (about 80 against 90 % held-out). The VQ encoder is convolutional
with a 16 px stride, so moving a scene's ids on the grid is close to what it gives for the scene
drawn elsewhere; the per-token targets (shape labels, the CNN teacher's features) move with them
or are recomputed, so every shape is seen at many positions. Captions name positions, so a
shifted scene's caption drops its position phrase (contrastive.py). Offsets keep every labelled
token inside the grid (and off the edge rows and columns, unless it was on them): only
background wraps around. Measured, it narrowed the gap between training and held-out scenes
without raising the held-out figure, so the full recipe leaves it off (tools/train/README.md,
"Distillation and shifted token grids (stage B, off)").
"""
from __future__ import annotations

from typing import Tuple

import torch

from .token_labels import IGNORE

# Shapes drawn away from the edges stay this many tokens away: the encoder pads at the edges, so
# codes moved there from inside differ from what it gives for a shape drawn there (decoded, such
# shapes come back as smudges).
MARGIN = 1


def shape_boxes(labels: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, grid*grid) token labels -> (B, 4) int64 rows min/max and columns min/max of the labelled
    tokens; a scene without any spans the whole grid (it is not shifted)."""
    covered = (labels != IGNORE).view(-1, grid, grid)
    index = torch.arange(grid)
    rows, cols = covered.any(2), covered.any(1)
    big = torch.full_like(index, grid)

    def span(mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        lo = torch.where(mask, index, big).min(1).values
        hi = torch.where(mask, index, -big).max(1).values
        empty = ~mask.any(1)
        return torch.where(empty, 0, lo), torch.where(empty, grid - 1, hi)

    (r0, r1), (c0, c1) = span(rows), span(cols)
    return torch.stack([r0, r1, c0, c1], dim=1)


def random_shifts(boxes: torch.Tensor, grid: int, generator: torch.Generator,
                  margin: int = MARGIN) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per scene, offsets (dy, dx) drawn uniformly among those that keep its box inside the grid
    and, where it was, `margin` tokens away from the grid's edges."""
    def draw(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        u = torch.rand(len(lo), generator=generator)
        return lo + (u * (hi - lo + 1).float()).long().clamp(max=hi - lo)

    def span(first: torch.Tensor, last: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return first.clamp(max=margin) - first, last.clamp(min=grid - 1 - margin) - last

    dy = draw(*span(boxes[:, 0], boxes[:, 1]))
    dx = draw(*span(boxes[:, 2], boxes[:, 3]))
    return dy, dx


def shift_grid(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, grid*grid) values in raster order, each row rolled by (dy, dx) tokens: out[r, c] =
    x[(r - dy) % grid, (c - dx) % grid]."""
    b = len(x)
    index = torch.arange(grid)
    rows = (index[None, :] - dy[:, None]) % grid
    cols = (index[None, :] - dx[:, None]) % grid
    out = x.view(b, grid, grid)[torch.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(b, grid * grid)
