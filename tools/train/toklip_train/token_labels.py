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
import torch.nn.functional as F

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


def instance_balanced_weights(labels: torch.Tensor) -> torch.Tensor:
    """(B, T) float weights for the per-token loss: 0 on unlabelled tokens, else 1 / (tokens of
    the same label in that scene), so each shape of a scene weighs the same in the loss whatever
    its size. Why: a large shape covers about 12 tokens, a small one about 4, and a plain mean
    over tokens spends three times the gradient on the large shapes the model already names
    while small shapes are what it misses."""
    labelled = labels != IGNORE
    onehot = F.one_hot(labels.clamp(min=0), len(SHAPES)) * labelled.unsqueeze(-1)  # (B, T, S)
    counts = onehot.sum(1, keepdim=True)  # (B, 1, S) tokens per label and scene
    per_token = (onehot * counts).sum(-1).float()  # each token's own label count
    return torch.where(labelled, 1.0 / per_token.clamp(min=1.0), torch.zeros_like(per_token))
