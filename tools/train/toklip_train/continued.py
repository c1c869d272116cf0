"""A Continuation recipe (recipe.py) run stage by stage, each stage starting from the previous
one's checkpoint in the run folder, so that a run can be resumed, or run one stage at a time,
with the same result:

    RUN/vq_broad/vq.pt    stage vq_broad: the predecessor's VQ continued on broad scenes and pictures
    RUN/vq_shape/vq.pt    stage vq_shape: the shape-aware fine-tune
    RUN/toklip.pt         stage towers: the predecessor's towers continued on the new VQ's ids
                          (with RUN/tokenizer.json and RUN/metrics.json)

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
from .contrastive import ContrastiveTrainer, init_towers
from .data import render
from .evaluation import EVAL_SEED, HeldOutSets, broad_held_out_sets, held_out_sets
from .networks import TokLIP, VQModel
from .onnx_ids import encode_ids_onnx
from .pictures import picture
from .pipeline import HeldOutEvaluator, official_checkpoint, training_ids
from .recipe import MODEL_NAME, Continuation
from .recover import VQ_PREFIX, recover as recover_model
from .scenes import scene
from .tokenizer import VOCAB, write_tokenizer
from .vq_stages import StageRecord, load_vq, save_vq
from .vq_training import VQTrainer

Log = Callable[[str], None]
STAGES = ("vq_broad", "vq_shape", "towers")
EMBEDDING = "text.token_embedding.weight"
# The uncaptioned pictures the VQ stages are checked on: indices no stage trains on.
EVAL_PICTURES_START = 1_000_000
VQ_EVAL_IMAGES = 64


def held_out(recipe: Continuation, broad: bool = False) -> HeldOutSets:
    """The held-out sets (classic or broad), cut to recipe.eval_limit scenes each when it is set."""
    sets = broad_held_out_sets() if broad else held_out_sets()
    n = recipe.eval_limit
    return sets if n is None else HeldOutSets(sets.retrieval[:n], sets.zero_shot[:n])


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
    evals = vq_eval_sets(min(VQ_EVAL_IMAGES, recipe.eval_limit or VQ_EVAL_IMAGES))
    trainer.train(evals.pop("classic"), stage="vq_broad", more_eval=evals)
    record = {"run": str(folder.resolve()), **clock.read(), "config": asdict(recipe.vq_broad)}
    _finish(folder, trainer, {**start_stages, "vq_broad": record}, log)
    return trainer.model


def shape_head_scenes(count: int, seed: int) -> list:
    """Stage vq_shape's head warm-up scenes: classic and broad in turn, on a stream no other stage draws."""
    return [(scene if i % 2 == 0 else broad_scene)("train", i, seed + 20) for i in range(count)]


def run_vq_shape(start: VQModel, start_stages: Dict[str, StageRecord], recipe: Continuation, folder: Path, *,
                 seed: int, log: Log) -> VQModel:
    """Stage vq_shape: stage A3's shape-aware fine-tune on the new VQ, with broad scenes and pictures
    in each batch; the head warms up alone on the frozen codes first (through onnxruntime)."""
    clock = Clock()
    cfg = recipe.vq_shape
    trainer = VQTrainer(recipe.model.vq, cfg, seed=seed, data_seed=seed + 20, log=log).start_from(start.state_dict())
    warm = shape_head_scenes(cfg.shape_head_warm_scenes, seed)
    trainer.warm_shape_head(encode_ids_onnx(trainer.model, warm, threads=torch.get_num_threads(), log=log), warm)
    held = held_out(recipe).zero_shot
    evals = vq_eval_sets(min(VQ_EVAL_IMAGES, recipe.eval_limit or VQ_EVAL_IMAGES))
    trainer.train(evals.pop("classic"), shape_eval=(render(held), [s.shapes[0].shape for s in held]),
                  stage="vq_shape", more_eval=evals)
    record = {"run": str(folder.resolve()), **clock.read(), "config": asdict(cfg)}
    _finish(folder, trainer, {**start_stages, "vq_shape": record}, log)
    return trainer.model


def training_scenes(recipe: Continuation, seed: int) -> list:
    """Stage towers' scenes: scene i is classic when i % 10 < 10 * classic_share, else broad."""
    classic = round(10 * recipe.classic_share)
    return [(scene if i % 10 < classic else broad_scene)("train", i, seed) for i in range(recipe.train_scenes)]


def towers_start(predecessor: TokLIP, vocab: Dict[str, int], vq: VQModel, recipe: Continuation, seed: int) -> TokLIP:
    """The recipe's model: the predecessor's towers (its words keep their embeddings, new words
    get fresh ones), the new VQ."""
    model = TokLIP(recipe.model)
    init_towers(model, seed)
    state = model.state_dict()
    for name, value in predecessor.state_dict().items():
        if name.startswith(VQ_PREFIX) or name == EMBEDDING:
            continue
        if state[name].shape != value.shape:
            raise ValueError(f"{name}: the predecessor's {tuple(value.shape)} against the recipe's {tuple(state[name].shape)}")
        state[name] = value
    old = predecessor.state_dict()[EMBEDDING]
    for word, i in VOCAB.items():
        if word in vocab:
            state[EMBEDDING][i] = old[vocab[word]]
    for key, value in vq.state_dict().items():
        state[VQ_PREFIX + key] = value
    model.load_state_dict(state)
    return model


def run_towers(model: TokLIP, vq_stages: Dict[str, StageRecord], recipe: Continuation, out: Path, *, seed: int,
               log: Log, ids_cache: Optional[Path], times: Dict[str, Dict[str, float]]) -> dict:
    """Stage towers: ids of the training scenes, then the contrastive stage; writes toklip.pt and
    metrics.json (held-out metrics of the classic and the broad sets)."""
    clock = Clock()
    scenes = training_scenes(recipe, seed)
    ids = training_ids(model, scenes, ids_cache, log)
    classic, broad = HeldOutEvaluator(model, held_out(recipe)), HeldOutEvaluator(model, held_out(recipe, broad=True))
    times["token_ids"] = clock.read()
    log(f"encoded {len(scenes)} training scenes to ids: {times['token_ids']}")
    clock = Clock()
    trainer = ContrastiveTrainer(model, recipe.contrastive, ids, scenes, seed=seed, log=log)
    trainer.train(lambda: {**classic.semantic(), **{f"broad_{k}": v for k, v in broad.semantic().items()}})
    times["stage_b_contrastive"] = clock.read()
    torch.save(official_checkpoint(model, recipe, seed, recipe.contrastive.steps), out / "toklip.pt")
    write_tokenizer(out / "tokenizer.json")
    clock = Clock()
    heldout, heldout_broad = classic.full(), broad.full()
    times["evaluation"] = clock.read()
    return {"heldout": heldout, "heldout_broad": heldout_broad, "stage_b": trainer.history}


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
    from .vq_from_bundle import check, recover as recover_vq

    ran: List[str] = []
    for stage in STAGES:
        if stage_done(out, stage):
            log(f"stage {stage}: done already ({out})")
        elif stage == "vq_broad":
            start, grid = recover_vq(predecessor)
            check(start, grid, predecessor)
            log(f"stage vq_broad starts from the VQ of {predecessor} (recovered, every initializer checked)")
            run_vq_broad(start, {"predecessor": predecessor_record(predecessor)}, recipe, out / stage, seed=seed, log=log)
            ran.append(stage)
        elif stage == "vq_shape":
            start, stages = load_stage_vq(out, "vq_broad", recipe)
            run_vq_shape(start, stages, recipe, out / stage, seed=seed, log=log)
            ran.append(stage)
        else:
            run_towers_stage(recipe, out, predecessor=predecessor, seed=seed, log=log, ids_cache=ids_cache)
            ran.append(stage)
        if stage == until:
            break
    return ran


def run_towers_stage(recipe: Continuation, out: Path, *, predecessor: Path, seed: int, log: Log,
                     ids_cache: Optional[Path]) -> dict:
    total = Clock()
    times: Dict[str, Dict[str, float]] = {}
    clock = Clock()
    old, report = recover_model(predecessor, token_mlp_steps=recipe.token_mlp_fit_steps, seed=seed, log=log)
    vq, vq_stages = load_stage_vq(out, "vq_shape", recipe)
    model = towers_start(old, report["vocab"], vq, recipe, seed)
    times["recover_towers"] = clock.read()
    log(f"stage towers starts from the towers of {predecessor} ({times['recover_towers']})")
    result = run_towers(model, vq_stages, recipe, out, seed=seed, log=log, ids_cache=ids_cache, times=times)
    times["total"] = total.read()
    metrics = {"model": MODEL_NAME, "recipe": recipe.name, "seed": seed, "predecessor": vq_stages["predecessor"],
               "token_mlp_max_rel_err": report["token_mlp_max_rel_err"], **result, "times": times,
               "vq_stages": vq_stages, "torch": torch.__version__, "threads": torch.get_num_threads(),
               "config": json.loads(json.dumps(asdict(recipe), default=str))}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    log(f"stage towers done: {times}; held-out {json.dumps(result['heldout'])}; broad {json.dumps(result['heldout_broad'])}")
    return metrics
