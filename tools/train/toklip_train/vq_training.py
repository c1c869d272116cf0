"""Stage A: the LlamaGen-style VQ (exporter's VQModel) trained on generated scenes.

Losses: reconstruction (L1 + L2, plus a light L1 on image gradients for sharp edges), codebook
and commitment terms on the l2-normalised vectors (as LlamaGen with codebook_l2_norm), and
dead-code restarts: codes unused for a while are moved onto encoder outputs of the current
batch, so the whole codebook stays in use.

Warm start: the first `continuous_steps` steps train the autoencoder on the continuous unit
vectors (no quantiser); the codebook is then initialised by spherical k-means on the encoder
outputs of the last steps, and training continues with the quantiser. A randomly initialised
codebook on a randomly initialised encoder learns far slower on the few steps a CPU affords.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .data import psnr, render, scene_batch, to_uint8
from .networks import VQConfig, VQModel, l2_normalize
from .code_cnn import CodeGridCNN, code_grid, fit_on_codes, shapes_present
from .broad_scenes import broad_scene
from .pictures import picture
from .scenes import IMAGE_SIZE, SHAPES, Scene, scene, shape_mask


# The data seed of the small-shape stream is the stage's plus this: scenes no other stream draws.
SMALL_STREAM_OFFSET = 1000


@dataclass(frozen=True)
class VQTrainConfig:
    steps: int = 3000
    batch_size: int = 8
    lr: float = 1e-3
    warmup: int = 150
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.0
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    gradient_weight: float = 0.5
    # > 0: pixels on and near a shape (the generator's masks, dilated by object_margin px) weigh
    # 1 + object_weight in the reconstruction losses. Backgrounds fill most pixels, so a plain
    # mean lets the codes spend their capacity there and blur small shapes into blobs.
    object_weight: float = 0.0
    object_margin: int = 2
    # > 0: a small CNN over the grid of quantised vectors (code_cnn.py, discarded after training)
    # names the shapes of each scene, multi-label, with this weight; its gradient reaches the
    # encoder through the straight-through estimator. Reconstruction alone lets fragments of
    # different small shapes share codes (the reconstructions are blobs), which no later stage
    # can tell apart again.
    scene_shape_weight: float = 0.0
    # Before that, the head alone learns on the frozen codes of this many training scenes (their
    # ids through onnxruntime, onnx_ids.py): from scratch at batch 8 it stays at chance for
    # hundreds of steps while its random gradient only disturbs the encoder.
    shape_head_warm_scenes: int = 0
    shape_head_warm_steps: int = 0
    shape_head_warm_batch: int = 64
    shape_head_warm_lr: float = 1e-3
    # This share of each batch comes from training scenes that hold a small shape (a stream of
    # its own, so the other scenes are those the stage draws without it): small shapes are where
    # the codes lose shape, and they fill few pixels of few scenes.
    small_shape_share: float = 0.0
    # Of each batch, this many broad scenes (broad_scenes.py) and this many uncaptioned pictures
    # (pictures.py), each from a stream of its own; the rest are classic scenes.
    broad_per_batch: int = 0
    pictures_per_batch: int = 0
    codebook_weight: float = 1.0
    commitment_weight: float = 0.25
    restart_every: int = 25
    usage_decay: float = 0.98
    restart_threshold: float = 0.03  # EMA hits per step below which a code counts as dead
    restart_until: float = 0.8  # fraction of the steps after which codes are no longer moved
    grad_clip: float = 1.0
    crop: int = 0  # > 0: steps before crop_steps train on 4 random crops of this size per image
    crop_steps: int = 0
    continuous_steps: int = 0
    kmeans_vectors: int = 32768
    kmeans_iters: int = 20
    log_every: int = 50
    eval_every: int = 500
    eval_images: int = 64


def lr_at(step: int, cfg) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio * lr."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def init_vq(model: VQModel, seed: int) -> VQModel:
    """PyTorch's default initialisers, seeded; the codebook starts as random unit directions."""
    torch.manual_seed(seed)
    for m in model.modules():
        if hasattr(m, "reset_parameters") and m is not model:
            m.reset_parameters()
    with torch.no_grad():
        model.quantize.embedding.weight.copy_(torch.randn_like(model.quantize.embedding.weight))
        model.quantize.codebook_used.zero_()
    return model


def image_gradient_l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    dx = (x[..., :, 1:] - x[..., :, :-1]) - (y[..., :, 1:] - y[..., :, :-1])
    dy = (x[..., 1:, :] - x[..., :-1, :]) - (y[..., 1:, :] - y[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def object_weights(scenes: Sequence[Scene], weight: float, margin: int) -> torch.Tensor:
    """(B,1,H,W) per-pixel loss weights: 1 on background, 1 + weight on and within `margin` px
    of a shape (antialiased coverage, dilated by a max filter)."""
    empty = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)  # an uncaptioned picture: no shape
    cover = np.stack([np.max([shape_mask(s) for s in sc.shapes], axis=0) if sc.shapes else empty for sc in scenes])
    cover = torch.from_numpy(cover)[:, None]
    if margin > 0:
        cover = F.max_pool2d(cover, 2 * margin + 1, stride=1, padding=margin)
    return 1.0 + weight * cover


def weighted_mean(error: torch.Tensor, weight: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean of error (B,C,H,W) with per-pixel weights (B,1,H,W), normalised by the weights."""
    if weight is None:
        return error.mean()
    return (error * weight).sum() / (weight.sum() * error.shape[1])


class VQTrainer:
    def __init__(self, vq_cfg: VQConfig, cfg: VQTrainConfig, *, seed: int, data_seed: int,
                 log: Callable[[str], None] = print):
        self.cfg = cfg
        self.seed = seed
        self.data_seed = data_seed
        self.log = log
        self.model = init_vq(VQModel(vq_cfg), seed).train()
        if cfg.scene_shape_weight > 0 and cfg.crop:
            raise ValueError("scene_shape_weight needs whole scenes: a crop may cut a shape out")
        if round(cfg.small_shape_share * cfg.batch_size) + cfg.broad_per_batch + cfg.pictures_per_batch > cfg.batch_size:
            raise ValueError("small-shape, broad and picture items do not fit in the batch")
        self.shape_head = CodeGridCNN(vq_cfg.codebook_dim) if cfg.scene_shape_weight > 0 else None
        params = list(self.model.parameters()) + (list(self.shape_head.parameters()) if self.shape_head else [])
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
        self.usage = torch.zeros(vq_cfg.codebook_size)
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.history: List[Dict[str, float]] = []
        self.small_cursor = 0  # the next index of the small-shape stream to look at

    def start_from(self, state_dict: dict) -> "VQTrainer":
        """Fine-tune a trained VQ: its weights, every code counted as in use (no k-means; a code
        is restarted only after it goes unused for a while)."""
        self.model.load_state_dict(state_dict)
        self.usage.fill_(1.0)
        return self

    def quantize(self, x: torch.Tensor, continuous: bool = False):
        """-> (straight-through quant (B,C,g,g), ids (B*N,), codebook loss, commitment loss, flat zn)."""
        z = self.model.encode_z(x)
        b, c, h, w = z.shape
        flat = l2_normalize(z.permute(0, 2, 3, 1).reshape(-1, c), dim=-1)
        if continuous:
            zero = flat.new_zeros(())
            return flat.reshape(b, h, w, c).permute(0, 3, 1, 2), None, zero, zero, flat.detach()
        with torch.no_grad():
            ids = self.model.quantize.ids(z.detach()).reshape(-1)  # (b, row, col) order, as flat
        e = self.model.quantize.lookup(ids)
        codebook_loss = F.mse_loss(e, flat.detach())
        commitment_loss = F.mse_loss(flat, e.detach())
        quant = (flat + (e - flat).detach()).reshape(b, h, w, c).permute(0, 3, 1, 2)
        return quant, ids, codebook_loss, commitment_loss, flat.detach()

    def step(self, step: int) -> Dict[str, float]:
        cfg = self.cfg
        for group in self.opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        batch = self.scenes_for(step)
        x = render(batch)
        weight = object_weights(batch, cfg.object_weight, cfg.object_margin) if cfg.object_weight > 0 else None
        if cfg.crop and step < cfg.crop_steps:
            if weight is not None:  # the same crops of pixels and weights
                both = self.random_crops(torch.cat([x, weight], dim=1), cfg.crop)
                x, weight = both[:, :3], both[:, 3:]
            else:
                x = self.random_crops(x, cfg.crop)
        continuous = step < cfg.continuous_steps
        if step == cfg.continuous_steps and step > 0:
            self.init_codebook_kmeans()
        quant, ids, cb_loss, commit_loss, flat = self.quantize(x, continuous)
        if continuous:
            self.remember(flat)
        rec = self.model.decode(quant)
        l1 = weighted_mean((rec - x).abs(), weight)
        l2 = weighted_mean((rec - x).pow(2), weight)
        grad = image_gradient_l1(rec, x)
        loss = (cfg.l1_weight * l1 + cfg.l2_weight * l2 + cfg.gradient_weight * grad
                + cfg.codebook_weight * cb_loss + cfg.commitment_weight * commit_loss)
        shape = {}
        if self.shape_head is not None:
            # scenes only: an uncaptioned picture has no shape labels (its discs are no "circle")
            labelled = torch.tensor([bool(item.shapes) for item in batch])
            shape = {"shape_bce": torch.zeros(())}  # a batch of pictures only: no term
            if labelled.any():
                shape["shape_bce"] = F.binary_cross_entropy_with_logits(
                    self.shape_head(quant[labelled]), shapes_present([item for item in batch if item.shapes]))
            loss = loss + cfg.scene_shape_weight * shape["shape_bce"]
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()

        restarted = 0
        if ids is not None:
            counts = torch.bincount(ids, minlength=self.usage.numel()).float()
            self.usage.mul_(cfg.usage_decay).add_(counts, alpha=1 - cfg.usage_decay)
        if (ids is not None and (step + 1) % cfg.restart_every == 0
                and step < cfg.restart_until * cfg.steps):
            restarted = self.restart_dead_codes(flat)
        with torch.no_grad():
            batch_psnr = float(psnr(to_uint8(x), to_uint8(rec.detach())).mean())
        return {"loss": float(loss), "l1": float(l1), "l2": float(l2), "grad": float(grad),
                "codebook": float(cb_loss), "commit": float(commit_loss), "psnr": batch_psnr,
                "restarted": restarted, **{k: float(v) for k, v in shape.items()}}

    def scenes_for(self, step: int) -> list:
        """The training items of `step`: the stage's stream of classic scenes, the first
        round(small_shape_share * batch) of them replaced by the next scenes of a second stream
        that hold a small shape, and the last broad_per_batch + pictures_per_batch by broad scenes
        and uncaptioned pictures (streams of their own)."""
        cfg = self.cfg
        small = round(cfg.small_shape_share * cfg.batch_size)
        broad, pictures = cfg.broad_per_batch, cfg.pictures_per_batch
        batch = scene_batch("train", step * cfg.batch_size + small, cfg.batch_size - small - broad - pictures,
                            self.data_seed)
        taken: List[Scene] = []
        while len(taken) < small:
            candidate = scene("train", self.small_cursor, self.data_seed + SMALL_STREAM_OFFSET)
            self.small_cursor += 1
            if any(shape.size == "small" for shape in candidate.shapes):
                taken.append(candidate)
        return (taken + batch + [broad_scene("train", step * broad + j, self.data_seed) for j in range(broad)]
                + [picture(step * pictures + j, self.data_seed) for j in range(pictures)])

    def random_crops(self, x: torch.Tensor, size: int, per_image: int = 4) -> torch.Tensor:
        """Crops on the 16 px token grid, so that crop tokens line up with full-image tokens."""
        cells = (x.shape[-1] - size) // 16 + 1
        pos = torch.randint(0, cells, (x.shape[0], per_image, 2), generator=self.gen) * 16
        return torch.stack([x[i, :, r:r + size, c:c + size]
                            for i in range(x.shape[0]) for r, c in pos[i].tolist()])

    def remember(self, flat: torch.Tensor) -> None:
        """Keep the most recent encoder outputs for the k-means initialisation."""
        self.memory = torch.cat([getattr(self, "memory", flat[:0]), flat])[-self.cfg.kmeans_vectors:]

    @torch.no_grad()
    def init_codebook_kmeans(self) -> None:
        data = self.memory
        k = self.model.quantize.embedding.weight.shape[0]
        centres = data[torch.randperm(len(data), generator=self.gen)[:k]].clone()
        if len(centres) < k:  # fewer vectors than codes: fill with random directions
            extra = torch.randn((k - len(centres), data.shape[1]), generator=self.gen)
            centres = torch.cat([centres, l2_normalize(extra, dim=-1)])
        for _ in range(self.cfg.kmeans_iters):
            assign = (data @ centres.t()).argmax(1)
            sums = torch.zeros_like(centres).index_add_(0, assign, data)
            counts = torch.bincount(assign, minlength=k)
            empty = counts == 0
            centres = torch.where(empty[:, None], centres, l2_normalize(sums, dim=-1))
            if empty.any():  # re-seed empty clusters on random data points
                pick = torch.randint(0, len(data), (int(empty.sum()),), generator=self.gen)
                centres[empty] = data[pick]
        self.model.quantize.embedding.weight.copy_(centres)
        self.usage.fill_(1.0)
        del self.memory
        self.log(f"A codebook initialised by k-means on {len(data)} encoder outputs")

    @torch.no_grad()
    def restart_dead_codes(self, flat: torch.Tensor) -> int:
        dead = torch.nonzero(self.usage < self.cfg.restart_threshold).flatten()
        if dead.numel() == 0:
            return 0
        pick = torch.randint(0, flat.shape[0], (dead.numel(),), generator=self.gen)
        noise = 0.02 * torch.randn((dead.numel(), flat.shape[1]), generator=self.gen)
        weight = self.model.quantize.embedding.weight
        weight[dead] = l2_normalize(flat[pick] + noise, dim=-1)
        state = self.opt.state.get(weight)
        if state:
            state["exp_avg"][dead] = 0
            state["exp_avg_sq"][dead] = 0
        self.usage[dead] = self.cfg.restart_threshold * 2  # grace period
        return int(dead.numel())

    def warm_shape_head(self, ids: torch.Tensor, scenes: Sequence[Scene]) -> float:
        """Trains the shape head alone on the frozen codes of `ids` (len(scenes), N); returns
        its last training loss."""
        cfg = self.cfg
        with torch.no_grad():
            codebook = self.model.quantize.normalized_codebook()
        return fit_on_codes(self.shape_head, codebook, ids, scenes, steps=cfg.shape_head_warm_steps,
                            batch=cfg.shape_head_warm_batch, lr=cfg.shape_head_warm_lr, generator=self.gen,
                            log=self.log)

    @torch.no_grad()
    def shape_accuracy(self, images: torch.Tensor, shapes: Sequence[str], batch: int = 64) -> float:
        """The shape head's accuracy (top logit) on single-shape scenes, through ids as served."""
        self.model.eval()
        codebook = self.model.quantize.normalized_codebook()
        right = 0
        for i in range(0, len(images), batch):
            _, ids = self.model.encode(images[i:i + batch])
            pred = self.shape_head(code_grid(codebook, ids)).argmax(1)
            right += sum(SHAPES[int(p)] == s for p, s in zip(pred, shapes[i:i + batch]))
        self.model.train()
        return right / len(images)

    @torch.no_grad()
    def evaluate(self, images: torch.Tensor, batch: int = 32, continuous: bool = False) -> Dict[str, float]:
        """PSNR through ids -> decode (the served path); continuous: without the quantiser."""
        self.model.eval()
        values, used = [], set()
        for i in range(0, len(images), batch):
            x = images[i:i + batch]
            if continuous:
                rec = self.model.decode(self.quantize(x, continuous=True)[0])
            else:
                _, ids = self.model.encode(x)
                rec = self.model.decode_ids(ids, int(math.isqrt(ids.shape[1])))
                used.update(ids.flatten().tolist())
            values.append(psnr(to_uint8(x), to_uint8(rec)))
        self.model.train()
        return {"psnr": float(np.concatenate(values).mean()), "codes_used": len(used)}

    def train(self, eval_images: Optional[torch.Tensor] = None,
              snapshot: Optional[Callable[[VQModel, int], None]] = None,
              shape_eval: Optional[Tuple[torch.Tensor, Sequence[str]]] = None, stage: str = "A",
              more_eval: Optional[Dict[str, torch.Tensor]] = None) -> VQModel:
        """stage: the name on the log lines ("A", "A2", "A3"). shape_eval: held-out single-shape
        images and their shapes, on which the shape head is scored at every evaluation (how much
        shape the codes now carry). more_eval: further named image sets whose PSNR is logged and
        recorded (as eval_psnr_<name>) next to eval_images'."""
        cfg = self.cfg
        self.log(f"stage {stage} (VQ): {sum(p.numel() for p in self.model.parameters()) / 1e6:.2f}M "
                 f"parameters, {cfg.steps} steps x {cfg.batch_size} images; {asdict(cfg)}")
        t0, c0 = time.time(), time.process_time()
        window: List[Dict[str, float]] = []
        for step in range(cfg.steps):
            window.append(self.step(step))
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                mean["restarted"] = float(sum(w["restarted"] for w in window))
                live = int((self.usage > cfg.restart_threshold).sum())
                shape = f"shape bce {mean['shape_bce']:.3f} " if "shape_bce" in mean else ""
                self.log(f"{stage} {step + 1:5d}/{cfg.steps} loss {mean['loss']:.4f} l1 {mean['l1']:.4f} "
                         f"psnr {mean['psnr']:.2f} cb {mean['codebook']:.4f} {shape}live codes {live} "
                         f"restarted {int(mean['restarted'])} lr {lr_at(step, cfg):.2e} "
                         f"wall {time.time() - t0:.0f}s cpu {time.process_time() - c0:.0f}s")
                self.history.append({"step": step + 1, **mean, "live_codes": live})
                window = []
            if eval_images is not None and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
                ev = self.evaluate(eval_images, continuous=step < cfg.continuous_steps)
                self.log(f"{stage} eval step {step + 1}: held-out PSNR {ev['psnr']:.2f} dB, "
                         f"{ev['codes_used']} codes used")
                self.history[-1].update({"eval_psnr": ev["psnr"], "eval_codes": ev["codes_used"]})
                for name, images in (more_eval or {}).items():
                    more = self.evaluate(images, continuous=step < cfg.continuous_steps)
                    self.log(f"{stage} eval step {step + 1}: {name} PSNR {more['psnr']:.2f} dB, "
                             f"{more['codes_used']} codes used")
                    self.history[-1].update({f"eval_psnr_{name}": more["psnr"], f"eval_codes_{name}": more["codes_used"]})
                if shape_eval is not None and self.shape_head is not None:
                    acc = self.shape_accuracy(*shape_eval)
                    self.log(f"{stage} eval step {step + 1}: shape head on held-out codes {acc:.3f}")
                    self.history[-1]["eval_shape_head_acc"] = acc
                if snapshot is not None:
                    snapshot(self.model, step + 1)
        self.model.eval()
        return self.model
