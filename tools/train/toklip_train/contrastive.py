"""Stage B: the causal token ViT (with MAP pooling) and the text tower, trained contrastively
on the frozen VQ's token ids. TokLIP's distillation term needs a pre-trained teacher we do not
have; optional per-token losses (shape labels, and a small CNN teacher's features) stand in.

The loss is the CLIP softmax cross-entropy over scaled cosines, in both directions, with
multi-positive targets (two scenes in a batch can share a description). The scale follows a
fixed schedule, log-linear from `scale_start` to 100, so the stored logit_scale is log(100): the
official score convention softmax(100 * cos) is exactly what the model was last trained with.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .captions import positives, swap_attribute, without_position
from .networks import TokLIP, l2_normalize
from .scenes import SHAPES, Scene
from .token_distill import CodeTeacher, TeacherConfig, distill_loss
from .token_labels import IGNORE, instance_balanced_weights, token_shape_labels
from .token_shift import random_shifts, shape_boxes, shift_grid
from .tokenizer import encode_batch
from .vq_training import lr_at

FINAL_LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class ContrastiveConfig:
    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3
    warmup: int = 100
    min_lr_ratio: float = 0.02
    weight_decay: float = 0.05
    scale_start: float = 10.0
    grad_clip: float = 1.0
    log_every: int = 50
    eval_every: int = 500
    # Per image, one extra caption per listed attribute with that attribute swapped in one phrase
    # ("a red ring" for a red circle). They join the image->text softmax as negatives only, so
    # the towers cannot match captions on colour and position alone.
    hard_negatives: Tuple[str, ...] = ()
    # Weight of an auxiliary loss: a linear head on each token's feature names the shape that
    # covers the token's patch (token_labels.py). The head is thrown away after training.
    token_shape_weight: float = 0.0
    # With it, each shape of a scene weighs the same in that loss (token_labels.instance_balanced_weights)
    # instead of each token: small shapes cover a third of the tokens a large one does.
    token_shape_balance: bool = False
    # Weight of a second auxiliary loss: a linear head on each token's feature regresses onto a CNN
    # teacher's feature map of the frozen codes (token_distill.py), the teacher trained first
    # with `teacher`'s settings on the same training scenes. Head and teacher are thrown away.
    token_distill_weight: float = 0.0
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    # This fraction of each batch sees its ids shifted on the token grid, each scene by a random
    # offset that keeps its shapes inside (token_shift.py), its token labels and teacher targets
    # with them; their captions drop the position phrase, which the shift makes wrong.
    shift_fraction: float = 0.0


def scale_at(step: int, cfg: ContrastiveConfig) -> float:
    t = min(1.0, step / max(1, cfg.steps - 1))
    return math.exp(math.log(cfg.scale_start) + t * (math.log(FINAL_LOGIT_SCALE) - math.log(cfg.scale_start)))


@torch.no_grad()
def init_towers(model: TokLIP, seed: int) -> TokLIP:
    """timm / open_clip style initialisation of the ViT (without its VQ and its token MLP) and the
    text tower."""
    torch.manual_seed(seed)
    # The prefix also matches the token MLP (visual.trunk.vq_table, visual.trunk.vq_mapping): it
    # keeps PyTorch's default initialisation, as in the run that produced the shipped model.
    towers: List[nn.Module] = [m for n, m in model.named_modules()
                               if not n.startswith("visual.trunk.vq") and n != ""]
    for m in towers:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    trunk = model.trunk
    nn.init.trunc_normal_(trunk.pos_embed, std=0.02)
    nn.init.trunc_normal_(trunk.attn_pool.latent, std=trunk.pos_embed.shape[-1] ** -0.5)
    if model.text is not None:
        nn.init.normal_(model.text.token_embedding.weight, std=0.02)
        nn.init.normal_(model.text.positional_embedding, std=0.01)
        for block in model.text.transformer.resblocks:
            nn.init.xavier_uniform_(block.attn.in_proj_weight)
            nn.init.zeros_(block.attn.in_proj_bias)
    model.logit_scale.fill_(math.log(FINAL_LOGIT_SCALE))
    return model


def trainable_parameters(model: TokLIP) -> List[nn.Parameter]:
    return [p for n, p in model.named_parameters()
            if not n.startswith("visual.trunk.vq.") and n not in ("logit_scale", "logit_bias")]


def _decay(name: str, p: nn.Parameter) -> bool:
    return p.ndim >= 2 and not name.endswith(("pos_embed", "positional_embedding", "latent"))


class ContrastiveTrainer:
    def __init__(self, model: TokLIP, cfg: ContrastiveConfig, train_ids: torch.Tensor,
                 train_scenes: Sequence[Scene], *, seed: int, log: Callable[[str], None] = print):
        self.model = model
        self.cfg = cfg
        self.ids = train_ids
        self.scenes = list(train_scenes)
        self.seed = seed
        self.log = log
        for p in model.trunk.vq.parameters():
            p.requires_grad_(False)
        model.logit_scale.requires_grad_(False)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.token_head: Optional[nn.Linear] = None
        self.token_labels: Optional[torch.Tensor] = None
        if cfg.token_shape_weight > 0 or cfg.shift_fraction > 0:
            self.token_labels = token_shape_labels(self.scenes, model.config.grid)
        if cfg.shift_fraction > 0:
            self.shape_boxes = shape_boxes(self.token_labels, model.config.grid)
            self.shift_generator = torch.Generator().manual_seed(seed)
        if cfg.token_shape_weight > 0:
            torch.manual_seed(seed)
            self.token_head = nn.Linear(model.config.vision.width, len(SHAPES))
            named += [("token_head." + n, p) for n, p in self.token_head.named_parameters()]
        self.teacher: Optional[CodeTeacher] = None
        self.distill_head: Optional[nn.Linear] = None
        if cfg.token_distill_weight > 0:
            with torch.no_grad():
                codebook = model.trunk.vq.quantize.normalized_codebook()
            self.teacher = CodeTeacher(codebook, seed)
            log(f"stage B teacher: a CNN on the frozen codes, {cfg.teacher}")
            self.teacher_loss = self.teacher.fit(train_ids, self.scenes, cfg.teacher, seed, log)
            torch.manual_seed(seed + 1)
            self.distill_head = nn.Linear(model.config.vision.width, self.teacher.channels)
            named += [("distill_head." + n, p) for n, p in self.distill_head.named_parameters()]
        self.params = [p for _, p in named]
        self.opt = torch.optim.AdamW(
            [{"params": [p for n, p in named if _decay(n, p)], "weight_decay": cfg.weight_decay},
             {"params": [p for n, p in named if not _decay(n, p)], "weight_decay": 0.0}],
            lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
        self.rng = np.random.default_rng(seed)
        self.history: List[Dict[str, float]] = []

    def text_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return l2_normalize(self.model.text(input_ids))

    def shifted_batch(self, index: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor], int]:
        """The batch's ids and token labels, the first round(shift_fraction * B) scenes shifted
        (the same offsets for both), and how many were."""
        ids = self.ids[index]
        labels = self.token_labels[index] if self.token_labels is not None else None
        count = int(round(self.cfg.shift_fraction * len(index)))
        if count == 0:
            return ids, labels, 0
        grid = self.model.config.grid
        dy, dx = random_shifts(self.shape_boxes[index[:count]], grid, self.shift_generator)
        ids, labels = ids.clone(), labels.clone()
        ids[:count] = shift_grid(ids[:count], dy, dx, grid)
        labels[:count] = shift_grid(labels[:count], dy, dx, grid)
        return ids, labels, count

    def captions(self, scenes: Sequence[Scene], shifted: int) -> List[str]:
        """A training caption per scene; the first `shifted` scenes' drop their position phrases."""
        captions = [s.caption_variant(self.rng) for s in scenes]
        return [without_position(c) for c in captions[:shifted]] + captions[shifted:]

    def token_loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the per-token shape head, a mean over labelled tokens, or with
        token_shape_balance a mean in which every shape of a scene weighs the same."""
        logits = self.token_head(features).flatten(0, 1)
        if not self.cfg.token_shape_balance:
            return F.cross_entropy(logits, labels.flatten(), ignore_index=IGNORE)
        weights = instance_balanced_weights(labels).flatten()
        per_token = F.cross_entropy(logits, labels.flatten().clamp(min=0), reduction="none")
        return (per_token * weights).sum() / weights.sum().clamp(min=1e-6)

    def step(self, step: int, order: np.ndarray) -> Dict[str, float]:
        cfg = self.cfg
        lr = lr_at(step, cfg)
        for g in self.opt.param_groups:
            g["lr"] = lr
        batch = order[:cfg.batch_size]
        scenes = [self.scenes[i] for i in batch]
        index = torch.from_numpy(batch)
        ids, token_labels, shifted = self.shifted_batch(index)
        captions = self.captions(scenes, shifted)
        negatives = [swap_attribute(c, attribute, self.rng) for attribute in cfg.hard_negatives for c in captions]
        # (B, B + len(negatives)): a swapped caption may still describe another scene of the batch
        pos = torch.from_numpy(positives(captions + negatives, scenes)).float()
        features, img = self.model.trunk.encode_ids(ids)
        img = l2_normalize(img)
        txt = self.text_embeddings(torch.tensor(encode_batch(captions + negatives)))
        scale = scale_at(step, cfg)
        logits = scale * img @ txt.t()
        loss_i = -(F.log_softmax(logits, dim=1) * (pos / pos.sum(1, keepdim=True))).sum(1).mean()
        # text -> image over the true captions only (a swapped caption usually has no image)
        n = len(captions)
        pos_t, logits_t = pos[:, :n].t(), logits[:, :n].t()
        loss_t = -(F.log_softmax(logits_t, dim=1) * (pos_t / pos_t.sum(1, keepdim=True))).sum(1).mean()
        loss = 0.5 * (loss_i + loss_t)
        out = {}
        if self.token_head is not None:
            token_loss = self.token_loss(features, token_labels)
            loss = loss + cfg.token_shape_weight * token_loss
            out["token_loss"] = float(token_loss)
        if self.distill_head is not None:
            d_loss = distill_loss(self.distill_head, features, self.teacher.targets(ids))
            loss = loss + cfg.token_distill_weight * d_loss
            out["distill_loss"] = float(d_loss)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.opt.step()
        with torch.no_grad():
            hit = pos[torch.arange(len(batch)), logits.argmax(1)].mean()
        return {"loss": float(loss), "acc": float(hit), "scale": scale, "lr": lr, **out}

    def train(self, evaluate: Optional[Callable[[], Dict[str, float]]] = None) -> TokLIP:
        cfg = self.cfg
        n_params = sum(p.numel() for p in trainable_parameters(self.model))
        self.log(f"stage B (ViT + text): {n_params / 1e6:.2f}M trainable parameters, "
                 f"{len(self.scenes)} scenes, {cfg.steps} steps x {cfg.batch_size}; {asdict(cfg)}")
        self.model.train()
        self.model.trunk.vq.eval()
        t0, c0 = time.time(), time.process_time()
        order = np.empty(0, dtype=np.int64)
        window: List[Dict[str, float]] = []
        for step in range(cfg.steps):
            if len(order) < cfg.batch_size:  # epochs: a fresh permutation, no partial batches
                order = self.rng.permutation(len(self.scenes))
            window.append(self.step(step, order))
            order = order[cfg.batch_size:]
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                self.log(f"B {step + 1:5d}/{cfg.steps} loss {mean['loss']:.4f} batch i->t acc "
                         f"{mean['acc']:.3f}" + (f" token loss {mean['token_loss']:.4f}" if "token_loss" in mean else "")
                         + (f" distill loss {mean['distill_loss']:.4f}" if "distill_loss" in mean else "")
                         + f" scale {window[-1]['scale']:.1f} lr {window[-1]['lr']:.2e} "
                         f"wall {time.time() - t0:.0f}s cpu {time.process_time() - c0:.0f}s")
                self.history.append({"step": step + 1, **mean})
                window = []
            if evaluate is not None and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
                self.model.eval()
                metrics = evaluate()
                self.model.train()
                self.model.trunk.vq.eval()
                self.log(f"B eval step {step + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
                self.history[-1].update({f"eval_{k}": v for k, v in metrics.items()})
        self.model.eval()
        with torch.no_grad():
            self.model.logit_scale.fill_(math.log(FINAL_LOGIT_SCALE))
        return self.model
