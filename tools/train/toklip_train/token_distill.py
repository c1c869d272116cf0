"""Per-token distillation for stage B: each token's feature regresses onto a CNN teacher's feature
map of the same frozen codes.

Why: TokLIP distils a pre-trained encoder; we have none, but a small CNN on the 8x8 grid of code
vectors (code_cnn.py) learns the scenes' shapes in a minute and names held-out shapes far better
than the token ViT does after the whole of stage B (its convolutions generalise the arrangement
of codes that makes a shape). Its last feature map gives every token a dense target that says
what its neighbourhood looks like; probes on the shipped VQ's ids started a fresh ViT faster
with it than with per-token shape labels. In stage B, next to those labels, it showed no gain
(alone by step 1000, and with shifted token grids at the end), so the full recipe leaves it off
(tools/train/README.md, "Distillation and shifted token grids (stage B, off)"). The teacher and
the linear head are thrown away after training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .code_cnn import CodeIdsCNN, code_grid, fit_on_codes
from .scenes import SHAPES, Scene


@dataclass(frozen=True)
class TeacherConfig:
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3


class CodeTeacher(CodeIdsCNN):
    """The CNN on the frozen codes, seeded, with what distillation needs of it."""

    def __init__(self, codebook: torch.Tensor, seed: int):
        torch.manual_seed(seed)  # before the parent builds the CNN's parameters
        super().__init__(codebook)

    @property
    def channels(self) -> int:
        return self.cnn.channels

    def fit(self, ids: torch.Tensor, scenes: Sequence[Scene], cfg: TeacherConfig, seed: int,
            log: Callable[[str], None]) -> float:
        self.train()
        loss = fit_on_codes(self.cnn, self.codebook, ids, scenes, steps=cfg.steps, batch=cfg.batch_size,
                            lr=cfg.lr, generator=torch.Generator().manual_seed(seed), log=log)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return loss

    @torch.no_grad()
    def targets(self, ids: torch.Tensor) -> torch.Tensor:
        """Ids (B, N) -> unit feature vectors (B, N, channels), one per token in raster order."""
        return F.normalize(self.cnn.feature_map(code_grid(self.codebook, ids)).flatten(2).transpose(1, 2), dim=-1)

    @torch.no_grad()
    def shape_accuracy(self, ids: torch.Tensor, shapes: Sequence[str], batch: int = 256) -> float:
        """Top-logit accuracy on single-shape scenes."""
        pred = torch.cat([self(ids[i:i + batch]).argmax(1) for i in range(0, len(ids), batch)])
        return float(sum(SHAPES[int(p)] == s for p, s in zip(pred, shapes)) / max(1, len(shapes)))


def distill_loss(head: nn.Linear, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 - mean cosine between the head's projection of each token feature (B, N, width) and its
    teacher target (B, N, channels)."""
    return 1.0 - F.cosine_similarity(head(features), targets, dim=-1).mean()
