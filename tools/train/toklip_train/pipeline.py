"""The whole run: tokenizer, stage A (VQ), token ids, stage B (ViT + text), checkpoint, metrics."""
from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch

from .clock import Clock
from .contrastive import ContrastiveTrainer, init_towers
from .data import psnr, render, scene_batch, to_uint8
from .evaluation import (HeldOutSets, held_out_sets, psnr_metrics, retrieval_metrics,
                         zero_shot_metrics, zero_shot_prompts)
from .networks import TokLIP, l2_normalize
from .next_token import pretrain_next_token
from .onnx_ids import encode_ids_onnx
from .recipe import MODEL_NAME, Recipe
from .scenes import Scene
from .tokenizer import encode_batch, write_tokenizer
from .vq_stages import train_vq

Log = Callable[[str], None]


@torch.no_grad()
def encode_ids(model: TokLIP, scenes: Sequence[Scene], batch: int = 64) -> torch.Tensor:
    """VQ token ids (len(scenes), N) of the rendered scenes."""
    vq = model.trunk.vq.eval()
    out = [vq.encode(render(scenes[i:i + batch]))[1] for i in range(0, len(scenes), batch)]
    return torch.cat(out)


def ids_cache_key(model: TokLIP, scenes: Sequence[Scene]) -> str:
    """Hash of what the ids depend on: the VQ weights, the scene generator's source, which
    scenes (split, index, shapes) are encoded, and the runtime that encodes them."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.trunk.vq.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().contiguous().numpy().tobytes())
    for source in ("scenes.py", "broad_scenes.py"):
        h.update((Path(__file__).parent / source).read_bytes())
    h.update(repr([(s.split, s.index, s.shapes, s.background) for s in scenes]).encode())
    h.update(b"onnxruntime")
    return h.hexdigest()[:24]


def training_ids(model: TokLIP, scenes: Sequence[Scene], cache_dir: Optional[Path], log: Log) -> torch.Tensor:
    """The training scenes' ids through onnxruntime (onnx_ids.py: about 6 ms a scene, rendering
    included), memoised on disk under ids_cache_key, since they only change with the VQ or the scenes."""
    def encode() -> torch.Tensor:
        return encode_ids_onnx(model.trunk.vq.eval(), scenes, threads=torch.get_num_threads(), log=log)

    if cache_dir is None:
        return encode()
    path = cache_dir / f"train-ids-{ids_cache_key(model, scenes)}.pt"
    if path.exists():
        log(f"training ids from the cache {path}")
        return torch.load(path)
    ids = encode()
    cache_dir.mkdir(parents=True, exist_ok=True)
    torch.save(ids, path)
    return ids


@torch.no_grad()
def image_embeddings(model: TokLIP, ids: torch.Tensor, batch: int = 256) -> np.ndarray:
    out = [model.trunk.encode_ids(ids[i:i + batch])[1] for i in range(0, len(ids), batch)]
    return torch.cat(out).numpy()


@torch.no_grad()
def text_embeddings(model: TokLIP, texts: Sequence[str], batch: int = 256) -> np.ndarray:
    ids = torch.tensor(encode_batch(texts, model.text.config.context_length))
    return torch.cat([model.text(ids[i:i + batch]) for i in range(0, len(ids), batch)]).numpy()


@torch.no_grad()
def reconstruction_psnr(model: TokLIP, scenes: Sequence[Scene], ids: torch.Tensor, batch: int = 32) -> np.ndarray:
    grid = model.config.grid
    values = []
    for i in range(0, len(scenes), batch):
        rec = model.trunk.vq.decode_ids(ids[i:i + batch], grid)
        values.append(psnr(np.stack([s.render() for s in scenes[i:i + batch]]), to_uint8(rec)))
    return np.concatenate(values)


class HeldOutEvaluator:
    """Encodes the held-out images once (the VQ is frozen in stage B), then scores the towers."""

    def __init__(self, model: TokLIP, sets: HeldOutSets):
        self.model = model
        self.sets = sets
        self.retrieval_ids = encode_ids(model, sets.retrieval)
        self.zero_shot_ids = encode_ids(model, sets.zero_shot)

    def semantic(self) -> Dict[str, float]:
        m = self.model
        prompts = [p for p, _, _ in zero_shot_prompts()]
        out = zero_shot_metrics(image_embeddings(m, self.zero_shot_ids), text_embeddings(m, prompts),
                                self.sets.zero_shot)
        out.update(retrieval_metrics(image_embeddings(m, self.retrieval_ids),
                                     text_embeddings(m, self.sets.retrieval_captions)))
        return out

    def full(self) -> Dict[str, float]:
        out = self.semantic()
        out.update(psnr_metrics(reconstruction_psnr(self.model, self.sets.retrieval, self.retrieval_ids)))
        return out


def teacher_metrics(trainer: ContrastiveTrainer, evaluator: HeldOutEvaluator, log: Log) -> Optional[Dict[str, float]]:
    """Stage B's distillation teacher, if any: its last training loss and its held-out shape
    accuracy (the zero-shot scenes, one shape each), the bar the token ViT is taught towards."""
    if trainer.teacher is None:
        return None
    shapes = [s.shapes[0].shape for s in evaluator.sets.zero_shot]
    out = {"train_bce": trainer.teacher_loss,
           "heldout_shape_acc": trainer.teacher.shape_accuracy(evaluator.zero_shot_ids, shapes)}
    log(f"stage B teacher: held-out shape accuracy {out['heldout_shape_acc']:.3f}")
    return out


def official_checkpoint(model: TokLIP, recipe: Recipe, seed: int, steps: int) -> dict:
    """The layout of the released TokLIP files: weights under 'state_dict' with DDP's 'module.'
    prefix, no logit_bias; extra entries describe the run."""
    state = OrderedDict(("module." + k, v.detach().clone()) for k, v in model.state_dict().items())
    return {"epoch": steps, "name": MODEL_NAME, "state_dict": state,
            "train": {"recipe": recipe.name, "seed": seed, "config": json.loads(json.dumps(asdict(recipe), default=str))}}


def run(recipe: Recipe, out: Path, *, seed: int, log: Log, vq_from: Optional[str] = None,
        ids_cache: Optional[Path] = None) -> dict:
    times: Dict[str, Dict[str, float]] = {}
    total = Clock()
    write_tokenizer(out / "tokenizer.json")
    sets = held_out_sets()
    if recipe.name == "smoke":
        sets = HeldOutSets(sets.retrieval[:16], sets.zero_shot[:16])

    # Stages A and A2: the VQ.
    clock = Clock()
    vq_eval = render(sets.retrieval[: min(64, len(sets.retrieval))])
    vq = train_vq(recipe, out, seed=seed, log=log, eval_images=vq_eval, vq_from=vq_from)
    times["vq"] = clock.read()

    # Stage B: the towers on frozen token ids.
    clock = Clock()
    model = TokLIP(recipe.model)
    init_towers(model, seed)
    model.trunk.vq.load_state_dict(vq.model.state_dict())
    train_scenes = scene_batch("train", 0, recipe.train_scenes, seed, position_jitter=recipe.train_position_jitter)
    ids = training_ids(model, train_scenes, ids_cache, log)
    evaluator = HeldOutEvaluator(model, sets)
    times["token_ids"] = clock.read()
    log(f"encoded {len(train_scenes)} training scenes to ids: {times['token_ids']}")
    clock = Clock()
    next_token_history = pretrain_next_token(model, recipe.next_token, ids, seed=seed, log=log)
    times["stage_b0_next_token"] = clock.read()
    clock = Clock()
    trainer_b = ContrastiveTrainer(model, recipe.contrastive, ids, train_scenes, seed=seed, log=log)
    teacher = teacher_metrics(trainer_b, evaluator, log)
    trainer_b.train(evaluator.semantic)
    times["stage_b_contrastive"] = clock.read()

    torch.save(official_checkpoint(model, recipe, seed, recipe.contrastive.steps), out / "toklip.pt")
    clock = Clock()
    heldout = evaluator.full()
    times["evaluation"] = clock.read()
    times["total"] = total.read()
    metrics = {"model": MODEL_NAME, "recipe": recipe.name, "seed": seed, "vq_from": vq_from, "heldout": heldout,
               "times": times, "vq_stages": vq.stages, "stage_a": vq.histories.get("a", []),
               "stage_a2": vq.histories.get("a2", []), "stage_b0": next_token_history, "stage_b": trainer_b.history,
               "stage_b_teacher": teacher,
               "torch": torch.__version__, "threads": torch.get_num_threads()}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    log(f"times: {json.dumps(times)}")
    return metrics
