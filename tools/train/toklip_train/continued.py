"""A Continuation recipe (recipe.py) run stage by stage, each stage starting from the previous
one's checkpoint in the run folder, so that a run can be resumed, or run one stage at a time,
with the same result:

    RUN/vq_broad/vq.pt    stage vq_broad: the predecessor's VQ continued on broad scenes and pictures
    RUN/vq_shape/vq.pt    stage vq_shape: the shape-aware fine-tune
    RUN/toklip.pt         stage towers: the predecessor's towers continued on the new VQ's ids

Each vq.pt carries the record of the stages before it (vq_stages.py), with their times; each
stage also writes its history (RUN/<stage>/history.json). metrics.json gathers everything once
the towers are done.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

from .broad_scenes import broad_scene
from .clock import Clock
from .data import render
from .evaluation import EVAL_SEED, held_out_sets
from .networks import VQModel
from .pictures import picture
from .recipe import Continuation
from .vq_stages import StageRecord, load_vq, save_vq
from .vq_training import VQTrainer

Log = Callable[[str], None]
STAGES = ("vq_broad", "vq_shape", "towers")
# The uncaptioned pictures the VQ stages are checked on: indices no stage trains on.
EVAL_PICTURES_START = 1_000_000
VQ_EVAL_IMAGES = 64


def vq_eval_sets(count: int = VQ_EVAL_IMAGES) -> Dict[str, torch.Tensor]:
    """The VQ stages' checks: classic held-out scenes, broad held-out scenes, unseen pictures."""
    return {"classic": render(held_out_sets().retrieval[:count]),
            "broad": render([broad_scene("heldout", i, EVAL_SEED) for i in range(count)]),
            "pictures": render([picture(EVAL_PICTURES_START + i, EVAL_SEED) for i in range(count)])}


def continue_vq(start: VQModel, recipe: Continuation, *, seed: int, log: Log) -> VQTrainer:
    """Stage vq_broad: a trainer holding the recipe's VQ with `start`'s encoder and decoder; its
    codebook comes from k-means on the encoder's outputs after the continuous steps."""
    cfg = recipe.vq_broad
    if cfg.continuous_steps <= 0:
        raise ValueError("stage vq_broad builds its codebook by k-means: it needs continuous steps first")
    trainer = VQTrainer(recipe.model.vq, cfg, seed=seed, data_seed=seed + 10, log=log)
    kept = {k: v for k, v in start.state_dict().items() if not k.startswith("quantize.")}
    trainer.model.load_state_dict(kept, strict=False)
    return trainer


def run_vq_broad(start: VQModel, start_stages: Dict[str, StageRecord], recipe: Continuation, folder: Path, *,
                 seed: int, log: Log) -> VQModel:
    clock = Clock()
    trainer = continue_vq(start, recipe, seed=seed, log=log)
    evals = vq_eval_sets()
    trainer.train(evals.pop("classic"), stage="vq_broad", more_eval=evals)
    record = {"run": str(folder.resolve()), **clock.read(), "config": asdict(recipe.vq_broad)}
    _finish(folder, trainer, {**start_stages, "vq_broad": record}, log)
    return trainer.model


def _finish(folder: Path, trainer: VQTrainer, stages: Dict[str, StageRecord], log: Log) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "history.json").write_text(json.dumps(trainer.history, indent=2) + "\n")
    save_vq(folder / "vq.pt", trainer.model.eval(), stages)
    last = list(stages)[-1]
    log(f"stage {last} done: {stages[last]['wall_s'] / 60:.1f} min wall, {stages[last]['cpu_s'] / 60:.1f} min CPU "
        f"-> {folder / 'vq.pt'}")


def predecessor_record(bundle: Path) -> StageRecord:
    """The bundle a run continues, by its name and manifest checksum (its folder may be temporary);
    its own training time is its model card's, not this run's."""
    manifest = (bundle / "manifest.json").read_bytes()
    return {"bundle": json.loads(manifest)["name"], "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
            "wall_s": 0.0, "cpu_s": 0.0}


def stage_done(out: Path, stage: str) -> bool:
    return (out / ("toklip.pt" if stage == "towers" else f"{stage}/vq.pt")).exists()


def load_stage_vq(out: Path, stage: str, recipe: Continuation) -> tuple:
    saved = load_vq(out / stage / "vq.pt")
    vq = VQModel(recipe.model.vq)
    vq.load_state_dict(saved["state_dict"])
    return vq.eval(), saved["stages"]


def run(recipe: Continuation, out: Path, *, predecessor: Path, seed: int, log: Log,
        until: Optional[str] = None, ids_cache: Optional[Path] = None) -> List[str]:
    """Runs the stages not yet in `out`, up to and including `until`; returns those it ran."""
    from .vq_from_bundle import check, recover

    ran: List[str] = []
    for stage in STAGES:
        if stage_done(out, stage):
            log(f"stage {stage}: done already ({out})")
        else:
            if stage == "vq_broad":
                start, grid = recover(predecessor)
                check(start, grid, predecessor)
                log(f"stage vq_broad starts from the VQ of {predecessor} (recovered, every initializer checked)")
                run_vq_broad(start, {"predecessor": predecessor_record(predecessor)}, recipe, out / stage,
                             seed=seed, log=log)
            else:
                raise NotImplementedError(f"stage {stage}")
            ran.append(stage)
        if stage == until:
            break
    return ran
