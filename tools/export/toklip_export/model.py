"""The whole TokLIP model with the official state-dict layout:
`logit_scale`, `logit_bias`, `visual.trunk.*` (including `visual.trunk.vq.*`) and `text.*`."""
from __future__ import annotations

import contextlib
import math
from typing import Optional, Tuple

import torch
from torch import nn

from .config import TokLIPConfig
from .text import TextTransformer
from .vit import SemanticViT
from .vq import l2_normalize


class VisualTower(nn.Module):
    """open_clip's TimmModel wrapper: adds no projection, only holds `trunk`."""

    def __init__(self, cfg: TokLIPConfig):
        super().__init__()
        self.trunk = SemanticViT(cfg)


class TokLIP(nn.Module):
    def __init__(self, cfg: TokLIPConfig):
        super().__init__()
        self.config = cfg
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.logit_bias: Optional[nn.Parameter] = (
            nn.Parameter(torch.tensor(-10.0)) if cfg.logit_bias else None)
        self.visual = VisualTower(cfg)
        self.text: Optional[TextTransformer] = TextTransformer(cfg.text) if cfg.text else None

    @property
    def trunk(self) -> SemanticViT:
        return self.visual.trunk

    @property
    def vq(self):
        return self.visual.trunk.vq

    def encode_image(self, pixels: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        emb = self.trunk(pixels)
        return l2_normalize(emb) if normalize else emb

    def encode_text(self, input_ids: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        if self.text is None:
            raise RuntimeError("this TokLIP model has no text tower")
        emb = self.text(input_ids)
        return l2_normalize(emb) if normalize else emb

    def forward(self, pixels: torch.Tensor, input_ids: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (normalised image embeddings, normalised text embeddings, exp(logit_scale))."""
        return (self.encode_image(pixels, normalize=True),
                self.encode_text(input_ids, normalize=True), self.logit_scale.exp())


@contextlib.contextmanager
def _skip_init():
    """Construct modules without running their initialisers (weights stay uninitialised
    torch.empty memory, which the OS does not even commit until it is written)."""
    patched = []
    for cls in (nn.Linear, nn.Conv2d, nn.Embedding, nn.LayerNorm, nn.GroupNorm):
        patched.append((cls, cls.reset_parameters))
        cls.reset_parameters = lambda self: None
    init_fns = ("normal_", "xavier_uniform_", "zeros_", "ones_")
    saved = {name: getattr(nn.init, name) for name in init_fns}
    for name in init_fns:
        setattr(nn.init, name, lambda t, *a, **k: t)
    try:
        yield
    finally:
        for cls, fn in patched:
            cls.reset_parameters = fn
        for name, fn in saved.items():
            setattr(nn.init, name, fn)


@torch.no_grad()
def init_random(model: TokLIP, seed: int) -> TokLIP:
    """Seeded random weights with realistic scales (timm/open_clip style, uniform), so that random
    models give well-conditioned activations for benchmarks and parity tests. Norm affines
    are perturbed away from (1, 0) so that tests notice a missing or misplaced affine."""
    gen = torch.Generator().manual_seed(seed)

    def normal(t: torch.Tensor, std: float, mean: float = 0.0) -> None:
        # uniform with the given mean and std: in place and ~5x faster than normal_ on CPU,
        # which matters for 1.2 B parameters
        half = std * 3.0 ** 0.5
        t.uniform_(mean - half, mean + half, generator=gen)

    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            normal(module.weight, 0.02)
            normal(module.bias, 0.02)
        elif isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            normal(module.weight, (2.0 / fan_in) ** 0.5 * 0.5)
            normal(module.bias, 0.02)
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
            normal(module.weight, 0.1, mean=1.0)
            normal(module.bias, 0.1)
        elif isinstance(module, nn.Embedding):
            normal(module.weight, 1.0 if name.endswith("quantize.embedding") else 0.02)
    for name, p in model.named_parameters(recurse=True):
        if name.endswith(("pos_embed", "positional_embedding", "latent", "in_proj_weight")):
            normal(p, 0.02)
        elif name.endswith("in_proj_bias"):
            normal(p, 0.02)
    model.logit_scale.fill_(math.log(100.0))
    if model.logit_bias is not None:
        model.logit_bias.fill_(-10.0)
    model.vq.quantize.codebook_used.zero_()
    return model


def build_model(cfg: TokLIPConfig, *, init: str = "random", seed: int = 0) -> TokLIP:
    """Build a TokLIP model in eval mode.

    init="random": seeded random weights (init_random); init="none": uninitialised memory, for
    models whose weights are loaded right after (no time or RAM spent on an initialiser).
    """
    if init == "none":
        with _skip_init():
            model = TokLIP(cfg)
    elif init == "random":
        with _skip_init():
            model = TokLIP(cfg)
        init_random(model, seed)
    else:
        raise ValueError(f"init must be 'random' or 'none', not {init!r}")
    return model.eval()
