"""A small CNN over the grid of VQ code vectors that names the shapes of a scene.

Three uses: diagnose_shape.py trains it on frozen codes to measure how much shape the codes carry,
and stage A3 (vq_training.py, `scene_shape_weight`) trains it jointly with the VQ, so that its
gradient, through the straight-through estimator, teaches the encoder to keep in the codes what
tells shapes apart. Stage B's distillation (token_distill.py) trains one on the frozen codes as a
teacher for the token ViT. The network is thrown away after training in every case.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .scenes import SHAPES, Scene


class CodeGridCNN(nn.Module):
    """(B, C, g, g) code vectors -> per-token MLP (1x1 convolutions) -> 3 convolutions -> max pool
    -> one logit per shape."""

    def __init__(self, code_dim: int, hidden: int = 256, width: int = 64, channels: int = 128):
        super().__init__()
        self.embed = nn.Sequential(nn.Conv2d(code_dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, width, 1))
        features = [nn.Conv2d(width, channels, 3, padding=1), nn.GELU(), nn.Conv2d(channels, channels, 3, padding=1),
                    nn.GELU(), nn.Conv2d(channels, channels, 3, padding=1), nn.GELU()]
        # one Sequential, as before the feature map was exposed (same parameter names and order)
        self.convs = nn.Sequential(*features, nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(channels, len(SHAPES)))
        self.feature_layers = len(features)
        self.channels = channels

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.convs(self.embed(codes))

    def feature_map(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, C, g, g) -> (B, channels, g, g): the last convolution's features, before the pool."""
        return self.convs[:self.feature_layers](self.embed(codes))


class CodeIdsCNN(nn.Module):
    """A CodeGridCNN on a fixed codebook (a frozen VQ's), read through token ids (B, g*g)."""

    def __init__(self, codebook: torch.Tensor):
        super().__init__()
        self.register_buffer("codebook", codebook.detach().clone())
        self.cnn = CodeGridCNN(codebook.shape[1])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.cnn(code_grid(self.codebook, ids))


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


def fit_on_codes(cnn: CodeGridCNN, codebook: torch.Tensor, ids: torch.Tensor, scenes: Sequence[Scene], *,
                 steps: int, batch: int, lr: float, generator: torch.Generator,
                 log: Callable[[str], None]) -> float:
    """Trains `cnn` alone to name the shapes of `scenes` from the frozen codes of their `ids`
    (multi-label, like stage A3); returns its last training loss."""
    targets = shapes_present(scenes)
    opt = torch.optim.AdamW(cnn.parameters(), lr=lr, weight_decay=0.05)
    loss = torch.zeros(())
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 50)
        pick = torch.randint(len(ids), (batch,), generator=generator)
        loss = F.binary_cross_entropy_with_logits(cnn(code_grid(codebook, ids[pick])), targets[pick])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 250 == 0 or step + 1 == steps:
            log(f"shape CNN on frozen codes {step + 1}/{steps}: bce {float(loss):.4f}")
    return float(loss)
