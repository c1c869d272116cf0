"""Held-out evaluation sets and metrics, shared by the PyTorch and the ONNX-bundle paths.

Sets (dataset seed 0, split 'heldout', so every scene holds a combination never trained on):
* retrieval: held-out scenes 0..199 (one or two shapes) with their canonical captions; the same
  200 images give the reconstruction PSNR;
* zero-shot: held-out single-shape scenes ZERO_SHOT_START.., scored against the 40 prompts
  "a {colour} {shape}".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .broad_scenes import broad_scene
from .scenes import COLOURS, SHAPES, Scene, scene

EVAL_SEED = 0
RETRIEVAL_SCENES = 200
ZERO_SHOT_START = 10_000
ZERO_SHOT_SCENES = 500
# The shipped model's floors (issues 4 and 30): on the classic held-out sets, on the independent
# drawn set (drawn_set.py) and on the natural photos (photos.py).
FLOORS = {
    "heldout": {"psnr_mean": 26.0, "zero_shot_colour_acc": 0.95, "zero_shot_shape_acc": 0.90, "i2t_r1": 0.40},
    "drawn": {"psnr_mean": 26.0, "colour_acc": 0.95, "shape_acc": 0.85},
    "photos": {"psnr_mean": 17.0, "min_distinct_ids": 16},
}


@dataclass(frozen=True)
class HeldOutSets:
    retrieval: List[Scene]
    zero_shot: List[Scene]

    @property
    def retrieval_captions(self) -> List[str]:
        return [s.caption for s in self.retrieval]


def held_out_sets(retrieval: int = RETRIEVAL_SCENES, zero_shot: int = ZERO_SHOT_SCENES) -> HeldOutSets:
    return HeldOutSets(
        retrieval=[scene("heldout", i, EVAL_SEED) for i in range(retrieval)],
        zero_shot=[scene("heldout", ZERO_SHOT_START + i, EVAL_SEED, num_shapes=1) for i in range(zero_shot)],
    )


def broad_held_out_sets(retrieval: int = RETRIEVAL_SCENES, zero_shot: int = ZERO_SHOT_SCENES) -> HeldOutSets:
    """The same sets drawn by the broad generator (broad_scenes.py): its held-out split, indices
    and seed as above."""
    return HeldOutSets(
        retrieval=[broad_scene("heldout", i, EVAL_SEED) for i in range(retrieval)],
        zero_shot=[broad_scene("heldout", ZERO_SHOT_START + i, EVAL_SEED, num_shapes=1) for i in range(zero_shot)],
    )


def zero_shot_prompts() -> List[Tuple[str, str, str]]:
    """(prompt, colour, shape) for every colour x shape."""
    return [(f"a {c} {s}", c, s) for c in COLOURS for s in SHAPES]


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def nearest_prompts(image_emb: np.ndarray, prompt_emb: np.ndarray) -> List[Tuple[str, str]]:
    """(colour, shape) of the nearest "a {colour} {shape}" prompt for each image."""
    prompts = zero_shot_prompts()
    sims = _normalise(image_emb) @ _normalise(prompt_emb).T
    return [prompts[p][1:] for p in sims.argmax(axis=1)]


def label_accuracy(predicted: Sequence[Tuple[str, str]], truth: Sequence[Tuple[str, str]],
                   prefix: str = "") -> Dict[str, float]:
    colour_ok = [p[0] == t[0] for p, t in zip(predicted, truth)]
    shape_ok = [p[1] == t[1] for p, t in zip(predicted, truth)]
    return {f"{prefix}colour_acc": float(np.mean(colour_ok)), f"{prefix}shape_acc": float(np.mean(shape_ok)),
            f"{prefix}joint_acc": float(np.mean(np.logical_and(colour_ok, shape_ok)))}


def zero_shot_metrics(image_emb: np.ndarray, prompt_emb: np.ndarray,
                      scenes: Sequence[Scene]) -> Dict[str, float]:
    truth = [(s.shapes[0].colour, s.shapes[0].shape) for s in scenes]
    return label_accuracy(nearest_prompts(image_emb, prompt_emb), truth, prefix="zero_shot_")


def missed(metrics: Dict[str, float], floors: Dict[str, float]) -> List[str]:
    """The floors `metrics` misses, as "name value < floor"."""
    return [f"{k} {metrics[k]:.4f} < {v:g}" for k, v in floors.items() if metrics[k] < v]


def retrieval_metrics(image_emb: np.ndarray, text_emb: np.ndarray) -> Dict[str, float]:
    """Image i's caption is text i. Ties in the ranking count against the model."""
    sims = _normalise(image_emb) @ _normalise(text_emb).T
    correct = np.diag(sims)
    rank_i2t = (sims > correct[:, None]).sum(axis=1) + (sims == correct[:, None]).sum(axis=1) - 1
    rank_t2i = (sims > correct[None, :]).sum(axis=0) + (sims == correct[None, :]).sum(axis=0) - 1
    return {"i2t_r1": float(np.mean(rank_i2t < 1)), "i2t_r5": float(np.mean(rank_i2t < 5)),
            "t2i_r1": float(np.mean(rank_t2i < 1)), "t2i_r5": float(np.mean(rank_t2i < 5))}


def psnr_metrics(values: np.ndarray) -> Dict[str, float]:
    return {"psnr_mean": float(np.mean(values)), "psnr_min": float(np.min(values)),
            "psnr_p10": float(np.percentile(values, 10))}
