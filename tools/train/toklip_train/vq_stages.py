"""Stage A (the VQ) and its fine-tunes, stage A2 (object-weighted) and stage A3 (shape-aware), and
the vq.pt file that carries the result between runs together with its record: per stage, the run
that trained it and how long that took, so that a model card can state the time of the whole
recipe even when a later run started from `--vq-from`."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional

import torch

from .clock import Clock
from .data import render, scene_batch
from .evaluation import held_out_sets
from .networks import VQConfig, VQModel
from .onnx_ids import encode_ids_onnx
from .recipe import Recipe
from .vq_training import VQTrainConfig, VQTrainer

Log = Callable[[str], None]
# {"run": absolute folder, "wall_s", "cpu_s", "config": its VQTrainConfig, ["script": when not train.py]}
StageRecord = Dict[str, object]


# The fine-tunes after stage A, in order: (stage, the Recipe field with its settings, what it is).
FINE_TUNES = (("a2", "vq_object", "object-weighted VQ fine-tune"),
              ("a3", "vq_shape", "shape-aware VQ fine-tune"))


class TrainedVQ(NamedTuple):
    model: VQModel
    stages: Dict[str, StageRecord]  # "a", then the fine-tunes the recipe has
    histories: Dict[str, List[dict]]  # of the stages trained in this run


def _times(record: StageRecord) -> str:
    """A stage record's times for the log (its settings were logged when the stage started)."""
    return f"{record['wall_s'] / 60:.1f} min wall, {record['cpu_s'] / 60:.1f} min CPU"


def save_vq(path: Path, vq: VQModel, stages: Dict[str, StageRecord]) -> None:
    torch.save({"state_dict": vq.state_dict(), "stages": stages}, path)


def load_vq(path: Path) -> dict:
    """A vq.pt; files written before the stage record existed hold stage A only, with its times in
    the metrics.json beside them."""
    saved = torch.load(path, map_location="cpu")
    if "stages" not in saved:
        metrics = path.parent / "metrics.json"
        times = json.loads(metrics.read_text())["times"]["stage_a_vq"] if metrics.exists() else {}
        saved["stages"] = {"a": {"run": str(path.parent.resolve()), **times}}
    return saved


def stages_of_run(metrics: dict, run: Path) -> Dict[str, StageRecord]:
    """The VQ stage record of a finished run (metrics.json); runs from before metrics.json held it
    take it from their --vq-from file."""
    if "vq_stages" in metrics:
        return metrics["vq_stages"]
    if metrics.get("vq_from"):
        return load_vq(Path(metrics["vq_from"]))["stages"]
    return {"a": {"run": str(run.resolve()), **metrics["times"]["stage_a_vq"]}}


def fine_tune(stage: str, vq_cfg: VQConfig, cfg: VQTrainConfig, start: VQModel, *, seed: int, log: Log,
              eval_images: Optional[torch.Tensor]) -> VQTrainer:
    """Stage A2 or A3: continues from a trained VQ with `cfg`'s losses (object weighting, shape head)."""
    offset = 1 + [name for name, _, _ in FINE_TUNES].index(stage)  # scenes in an order no earlier stage saw
    trainer = VQTrainer(vq_cfg, cfg, seed=seed, data_seed=seed + offset, log=log).start_from(start.state_dict())
    log(f"stage {stage.upper()} ({dict((n, d) for n, _, d in FINE_TUNES)[stage]}, object weight "
        f"{cfg.object_weight:g}, shape weight {cfg.scene_shape_weight:g})")
    shape_eval = None
    if trainer.shape_head is not None:
        if cfg.shape_head_warm_steps > 0:
            scenes = scene_batch("train", 0, cfg.shape_head_warm_scenes, seed + offset)
            trainer.warm_shape_head(encode_ids_onnx(trainer.model, scenes, log=log), scenes)
        held = held_out_sets().zero_shot
        shape_eval = (render(held), [s.shapes[0].shape for s in held])
    trainer.train(eval_images, shape_eval=shape_eval, stage=stage.upper())
    return trainer


def train_vq(recipe: Recipe, out: Path, *, seed: int, log: Log, eval_images: torch.Tensor,
             vq_from: Optional[str] = None) -> TrainedVQ:
    """Runs the recipe's VQ stages that `vq_from` (if given) has not been through; writes out/vq.pt."""
    trainer = VQTrainer(recipe.model.vq, recipe.vq, seed=seed, data_seed=seed, log=log)
    histories: Dict[str, List[dict]] = {}
    if vq_from:
        saved = load_vq(Path(vq_from))
        trainer.model.load_state_dict(saved["state_dict"])
        stages = saved["stages"]
        log(f"VQ from {vq_from} (stages {', '.join(stages)} done), held-out PSNR "
            f"{trainer.evaluate(eval_images)['psnr']:.2f} dB")
    else:
        clock = Clock()
        trainer.train(eval_images, snapshot=lambda m, step: save_vq(
            out / "vq-snapshot.pt", m, {"a": {"run": str(out.resolve()), "snapshot_step": step}}))
        stages = {"a": {"run": str(out.resolve()), **clock.read(), "config": asdict(recipe.vq)}}
        histories["a"] = trainer.history
        log(f"stage A done: {_times(stages['a'])}")
    vq = trainer.model.eval()
    for stage, field, _ in FINE_TUNES:
        cfg = getattr(recipe, field)
        if cfg is None or stage in stages:
            continue
        clock = Clock()
        tuner = fine_tune(stage, recipe.model.vq, cfg, vq, seed=seed, log=log, eval_images=eval_images)
        vq = tuner.model.eval()
        stages[stage] = {"run": str(out.resolve()), **clock.read(), "config": asdict(cfg)}
        histories[stage] = tuner.history
        log(f"stage {stage.upper()} done: {_times(stages[stage])}")
    save_vq(out / "vq.pt", vq, stages)
    return TrainedVQ(vq, stages, histories)
