"""Per-token shape labels: which shape covers each VQ token's patch, for stage B's auxiliary loss.

Why: the scenes' shape is a relation between a few neighbouring tokens, and a caption-level
signal (one shape word per image) teaches the token ViT that relation slowly; probes on the
shipped VQ's ids learnt shape fastest when every token covered by a shape was also asked which
shape it belongs to. The generator knows the masks, so the labels cost nothing to collect.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

# The generator's own mask; scenes.py stays as it is, since its source keys the token-ids cache.
from .scenes import IMAGE_SIZE, SHAPES, Scene, shape_mask

IGNORE = -100  # background tokens: no label (cross_entropy's ignore_index)
MIN_COVERAGE = 0.2  # a patch gets a shape's label when the shape covers at least this much of it


def token_shape_labels(scenes: Sequence[Scene], grid: int, min_coverage: float = MIN_COVERAGE) -> torch.Tensor:
    """(len(scenes), grid*grid) int64 in raster order: the index in SHAPES of the shape covering
    the most of each patch when it covers at least `min_coverage` of it, else IGNORE."""
    patch = IMAGE_SIZE // grid
    out = np.full((len(scenes), grid * grid), IGNORE, dtype=np.int64)
    for row, scene in enumerate(scenes):
        best = np.full(grid * grid, min_coverage)
        for shape in scene.shapes:
            cells = shape_mask(shape).reshape(grid, patch, grid, patch).mean(axis=(1, 3)).reshape(-1)
            wins = cells >= best
            out[row, wins] = SHAPES.index(shape.shape)
            best = np.maximum(best, cells)
    return torch.from_numpy(out)
