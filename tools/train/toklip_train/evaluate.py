"""The shipped model's quality, measured by one command on the exported bundle run as the service
runs it (onnxruntime-node and tokenizers.js, tools/train/run_bundle.mjs):

    tools/python -m toklip_train.evaluate --bundle models/toklip-scenes-128 [--checkpoint RUN/toklip.pt]
        [--json REPORT.json] [--grid models/toklip-scenes-128/reconstructions.png]

Sets and what is measured on each (evaluation.py holds the floors):
* held-out: the classic generator's held-out split: tokenize -> decode PSNR on 200 scenes, zero-shot
  colour / shape with the 40 prompts "a {colour} {shape}" on 500 single-shape scenes, image -> text
  R@1 over the 200 captioned scenes (floors);
* held-out broad: the same on the broad generator's held-out split (reported, no floors);
* drawn: the independent drawn set (drawn_set.py): PSNR, zero-shot colour and shape (floors);
* photos: scikit-image's photographs (photos.py): PSNR and the distinct ids each uses (floors).
With --checkpoint, the held-out sets are also measured on the PyTorch model, and the report says
how far the bundle is from it. --grid writes a PNG of inputs and reconstructions (GRID_DRAWN,
GRID_PHOTOS). Exits 1 when the bundle misses a floor.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List, Tuple  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from .bundle_runner import run_bundle  # noqa: E402
from .data import psnr, render, to_pixels, to_uint8  # noqa: E402
from .drawn_set import drawn_set  # noqa: E402
from .evaluation import (FLOORS, HeldOutSets, broad_held_out_sets, held_out_sets, label_accuracy,  # noqa: E402
                         missed, nearest_prompts, psnr_metrics, retrieval_metrics, zero_shot_metrics,
                         zero_shot_prompts)
from .photos import photos  # noqa: E402
from .recipe import FULL  # noqa: E402
from .recon_grid import pairs_grid  # noqa: E402

PROMPTS = [p for p, _, _ in zero_shot_prompts()]
# The pictures of the committed grid, fixed by name (not by how well they come back).
GRID_DRAWN = ("red-circle-white.png", "yellow-star-black.jpeg", "green-triangle-midgrey.png",
              "blue-square-lightgrey.jpeg", "purple-ring-random.png", "cyan-star-white.jpeg",
              "black-circle-random.png", "white-triangle-black.jpeg")
GRID_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "camera", "motorcycle_left", "retina")


def _uint8(reconstruction: np.ndarray) -> np.ndarray:
    return to_uint8(torch.from_numpy(reconstruction))


def heldout_on_bundle(bundle: Path, sets: HeldOutSets, threads: int) -> Tuple[Dict[str, float], dict]:
    """-> (metrics, raw outputs) of the bundle on held-out scenes."""
    n_ret = len(sets.retrieval)
    out = run_bundle(bundle, render(sets.retrieval + sets.zero_shot).numpy(), sets.retrieval_captions + PROMPTS, threads)
    ref = np.stack([s.render() for s in sets.retrieval])
    metrics = psnr_metrics(psnr(ref, _uint8(out["reconstruction"][:n_ret])))
    emb, temb = out["embedding"], out["text_embedding"]
    metrics.update(zero_shot_metrics(emb[n_ret:], temb[n_ret:], sets.zero_shot))
    metrics.update(retrieval_metrics(emb[:n_ret], temb[:n_ret]))
    return metrics, out


def _by(groups: Dict[str, List[int]], values: np.ndarray, right: np.ndarray) -> Dict[str, dict]:
    return {k: {"psnr_mean": float(values[i].mean()), "joint_acc": float(right[i].mean()), "count": len(i)}
            for k, i in sorted(groups.items())}


def drawn_on_bundle(bundle: Path, threads: int) -> Tuple[Dict[str, object], Dict[str, tuple]]:
    """-> (metrics, {name: (input, reconstruction)}) on the independent drawn set."""
    items = drawn_set()
    images = np.stack([np.asarray(item.image()) for item in items])
    out = run_bundle(bundle, to_pixels(list(images)).numpy(), PROMPTS, threads)
    rec = _uint8(out["reconstruction"])
    values = psnr(images, rec)
    predicted = nearest_prompts(out["embedding"], out["text_embedding"])
    truth = [(item.colour, item.shape) for item in items]
    right = np.asarray([p == t for p, t in zip(predicted, truth)])
    metrics: Dict[str, object] = {"pictures": len(items), **psnr_metrics(values), **label_accuracy(predicted, truth)}
    for key in ("background", "format", "shape", "colour"):
        groups: Dict[str, List[int]] = defaultdict(list)
        for i, item in enumerate(items):
            groups[getattr(item, key)].append(i)
        metrics[f"by_{key}"] = _by({k: np.asarray(v) for k, v in groups.items()}, values, right)
    confusion: Dict[str, Dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (_, shape), (_, true_shape) in zip(predicted, truth):
        confusion[true_shape][shape] += 1
    metrics["shape_confusion"] = {k: dict(v) for k, v in confusion.items()}
    return metrics, {item.name: (images[i], rec[i]) for i, item in enumerate(items)}


def photos_on_bundle(bundle: Path, threads: int) -> Tuple[Dict[str, object], Dict[str, tuple]]:
    """-> (metrics, {name: (input, reconstruction)}) on the natural photos."""
    named = photos()
    images = np.stack(list(named.values()))
    out = run_bundle(bundle, to_pixels(list(images)).numpy(), (), threads)
    rec = _uint8(out["reconstruction"])
    values = psnr(images, rec)
    distinct = [len(set(row.tolist())) for row in out["ids"]]
    per_photo = {name: {"psnr": float(v), "distinct_ids": d} for name, v, d in zip(named, values, distinct)}
    metrics = {"photos": len(named), **psnr_metrics(values), "min_distinct_ids": min(distinct),
               "per_photo": per_photo}
    return metrics, {name: (images[i], rec[i]) for i, name in enumerate(named)}


def load_checkpoint(path: str, vision_heads: int, text_heads: int, norm_groups: int):
    from toklip_export.convert import load_toklip

    return load_toklip(path, vision_heads=vision_heads, text_heads=text_heads, norm_groups=norm_groups).model.eval()


@torch.no_grad()
def bundle_vs_checkpoint(model, sets: HeldOutSets, out: dict) -> dict:
    """Agreement of the served graphs with the PyTorch modules on the same held-out inputs."""
    from .pipeline import encode_ids

    ids = encode_ids(model, sets.retrieval + sets.zero_shot)
    emb = model.trunk.encode_ids(ids)[1].numpy()
    temb = model.text(torch.from_numpy(out["text_input_ids"])).numpy()
    scale = lambda a: float(np.abs(a).max())  # noqa: E731
    return {"ids_identical": float((ids.numpy() == out["ids"]).mean()),
            "embedding_rel_err": float(np.abs(emb - out["embedding"]).max()) / scale(emb),
            "text_embedding_rel_err": float(np.abs(temb - out["text_embedding"]).max()) / scale(temb)}


def evaluate(bundle: Path, threads: int = 2, model=None) -> Tuple[dict, Dict[str, Dict[str, tuple]]]:
    """-> (report, pictures for the grid: {"drawn": {...}, "photos": {...}})."""
    classic, broad = held_out_sets(), broad_held_out_sets()
    report: dict = {"floors": FLOORS, "bundle": {}}
    report["bundle"]["heldout"], out = heldout_on_bundle(bundle, classic, threads)
    report["bundle"]["heldout_broad"], _ = heldout_on_bundle(bundle, broad, threads)
    report["bundle"]["drawn"], drawn = drawn_on_bundle(bundle, threads)
    report["bundle"]["photos"], shots = photos_on_bundle(bundle, threads)
    report["sets"] = {"heldout": {"retrieval_and_psnr": len(classic.retrieval), "zero_shot": len(classic.zero_shot)},
                      "drawn": report["bundle"]["drawn"]["pictures"], "photos": report["bundle"]["photos"]["photos"]}
    if model is not None:
        from .pipeline import HeldOutEvaluator

        report["checkpoint"] = {"heldout": HeldOutEvaluator(model, classic).full(),
                                "heldout_broad": HeldOutEvaluator(model, broad).full()}
        report["bundle_vs_checkpoint"] = bundle_vs_checkpoint(model, classic, out)
    report["missed"] = [f"{name}: {m}" for name, floors in FLOORS.items()
                        for m in missed(report["bundle"][name], floors)]
    return report, {"drawn": drawn, "photos": shots}


def write_grid(path: Path, pictures: Dict[str, Dict[str, tuple]]) -> None:
    rows = [pictures["drawn"][name] for name in GRID_DRAWN] + [pictures["photos"][name] for name in GRID_PHOTOS]
    pairs_grid(rows, columns=4).save(path, optimize=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--checkpoint", help="also measure the held-out sets on this PyTorch checkpoint")
    # defaults: the full recipe's (the checkpoint shapes cannot tell heads and norm groups)
    p.add_argument("--vision-heads", type=int, default=FULL.model.vision.heads)
    p.add_argument("--text-heads", type=int, default=FULL.model.text.heads)
    p.add_argument("--vq-norm-groups", type=int, default=FULL.model.vq.norm_groups)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write the report here")
    p.add_argument("--grid", help="write the PNG of inputs and reconstructions here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = (load_checkpoint(args.checkpoint, args.vision_heads, args.text_heads, args.vq_norm_groups)
             if args.checkpoint else None)
    report, pictures = evaluate(Path(args.bundle), args.threads, model)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.grid:
        write_grid(Path(args.grid), pictures)
    for msg in report["missed"]:
        print(f"below floor: {msg}", file=sys.stderr)
    return 1 if report["missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
