"""Stage B0: next-token pretraining of the causal token ViT on the frozen VQ's ids.

Why: shape is a relation between neighbouring tokens (no single code says "square"), and a ViT
trained from scratch on 10k scenes sits on a long plateau before its attention learns such
relations: trained on shape labels alone it stayed at chance for 400 steps, where a small CNN
on the same code vectors reached 73 %. Predicting each token from the ones before it (the
trunk is causal, as TokLIP's is for autoregressive use) forces attention to the token to the
left and the token above from the first steps, so the contrastive stage starts from spatial
features. The prediction head is thrown away; the checkpoint keeps only the trunk's weights.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, List

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .networks import TokLIP
from .vq_training import lr_at


@dataclass(frozen=True)
class NextTokenConfig:
    steps: int = 0  # 0: no pretraining
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 50
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    log_every: int = 50


def trunk_parameters(model: TokLIP) -> List[nn.Parameter]:
    """What next-token prediction trains: the token MLP, positions, blocks and final norm (not
    the VQ, not the MAP pool, which prediction never reaches)."""
    return [p for n, p in model.trunk.named_parameters()
            if not n.startswith(("vq.", "attn_pool."))]


def next_token_loss(model: TokLIP, head: nn.Linear, ids: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of predicting ids[:, t+1] from the causal features of ids[:, :t+1]."""
    trunk = model.trunk
    features = trunk.forward_features(trunk.embed_ids(ids[:, :-1]))
    return F.cross_entropy(head(features).flatten(0, 1), ids[:, 1:].flatten())


def pretrain_next_token(model: TokLIP, cfg: NextTokenConfig, ids: torch.Tensor, *, seed: int,
                        log: Callable[[str], None] = print) -> List[Dict[str, float]]:
    """Trains the trunk in place; returns the logged history (step, loss)."""
    if cfg.steps <= 0:
        return []
    torch.manual_seed(seed)
    head = nn.Linear(model.config.vision.width, model.config.vq.codebook_size)
    params = trunk_parameters(model) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(seed)
    model.train()
    history: List[Dict[str, float]] = []
    window: List[float] = []
    t0, c0 = time.time(), time.process_time()
    log(f"stage B0 (next-token pretraining of the token ViT): {cfg.steps} steps x {cfg.batch_size}")
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        batch = ids[torch.from_numpy(rng.integers(len(ids), size=cfg.batch_size))]
        loss = next_token_loss(model, head, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        window.append(float(loss))
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            history.append({"step": step + 1, "loss": float(np.mean(window))})
            log(f"B0 {step + 1:5d}/{cfg.steps} next-token loss {history[-1]['loss']:.4f} "
                f"wall {time.time() - t0:.0f}s cpu {time.process_time() - c0:.0f}s")
            window = []
    model.eval()
    return history
