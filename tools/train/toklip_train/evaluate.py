"""Held-out quality of a trained checkpoint and/or an exported bundle.

    tools/python -m toklip_train.evaluate --checkpoint RUN/toklip.pt [--bundle models/toklip-scenes-128] [--json OUT]

--checkpoint: the PyTorch model (the exporter's modules). --bundle: the exported ONNX graphs run
by onnxruntime-node and tokenizers.js (tools/train/run_bundle.mjs), i.e. what the service
serves. With both, it also reports how far the bundle is from the checkpoint.

Metrics (toklip_train/evaluation.py): reconstruction PSNR through tokenize -> decode on 200
held-out scenes; zero-shot colour / shape accuracy with "a {colour} {shape}" prompts on 500
held-out single-shape scenes; image -> text R@1 over the 200 held-out captioned scenes.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402


import numpy as np  # noqa: E402
import torch  # noqa: E402

from .data import psnr, render, to_uint8  # noqa: E402
from .evaluation import (FLOORS, held_out_sets, psnr_metrics, retrieval_metrics,  # noqa: E402
                                     zero_shot_metrics, zero_shot_prompts)

from .node_script import run_node_script  # noqa: E402
from .recipe import FULL  # noqa: E402

RUN_BUNDLE = Path(__file__).resolve().parents[1] / "run_bundle.mjs"


def load_checkpoint(path: str, vision_heads: int, text_heads: int, norm_groups: int):
    from toklip_export.convert import load_toklip

    loaded = load_toklip(path, vision_heads=vision_heads, text_heads=text_heads, norm_groups=norm_groups)
    return loaded.model.eval()


def evaluate_checkpoint(model, sets) -> dict:
    from .pipeline import HeldOutEvaluator

    return HeldOutEvaluator(model, sets).full()


def run_bundle(bundle: str, pixels: np.ndarray, texts, workdir: Path, threads: int) -> dict:
    (workdir / "pixels.bin").write_bytes(np.ascontiguousarray(pixels, np.float32).tobytes())
    request = {"bundle": str(Path(bundle).resolve()), "texts": list(texts), "out": str(workdir / "out"),
               "pixels": {"file": str(workdir / "pixels.bin"), "shape": list(pixels.shape)},
               "threads": threads}
    shapes = json.loads(run_node_script(RUN_BUNDLE, request, workdir))
    out = workdir / "out"

    def read(name, dtype):
        return np.fromfile(out / f"{name}.bin", dtype=dtype).reshape(shapes[name])

    return {"ids": read("ids", np.int64), "embedding": read("embedding", np.float32),
            "reconstruction": read("reconstruction", np.float32),
            "text_input_ids": read("text_input_ids", np.int64),
            "text_embedding": read("text_embedding", np.float32)}


def evaluate_bundle(bundle: str, sets, threads: int = 2) -> tuple:
    """-> (metrics, raw outputs) of the bundle on the held-out sets."""
    n_ret = len(sets.retrieval)
    scenes = sets.retrieval + sets.zero_shot
    pixels = render(scenes).numpy()
    prompts = [p for p, _, _ in zero_shot_prompts()]
    texts = sets.retrieval_captions + prompts
    with tempfile.TemporaryDirectory(prefix="toklip-eval-") as tmp:
        out = run_bundle(bundle, pixels, texts, Path(tmp), threads)
    rec = to_uint8(torch.from_numpy(out["reconstruction"][:n_ret]))
    ref = np.stack([s.render() for s in sets.retrieval])
    metrics = psnr_metrics(psnr(ref, rec))
    emb, temb = out["embedding"], out["text_embedding"]
    metrics.update(zero_shot_metrics(emb[n_ret:], temb[n_ret:], sets.zero_shot))
    metrics.update(retrieval_metrics(emb[:n_ret], temb[:n_ret]))
    return metrics, out


@torch.no_grad()
def bundle_vs_checkpoint(model, sets, out: dict) -> dict:
    """Agreement of the served graphs with the PyTorch modules on the same held-out inputs."""
    from .pipeline import encode_ids

    scenes = sets.retrieval + sets.zero_shot
    ids = encode_ids(model, scenes)
    emb = model.trunk.encode_ids(ids)[1].numpy()
    temb = model.text(torch.from_numpy(out["text_input_ids"])).numpy()
    scale = lambda a: float(np.abs(a).max())  # noqa: E731
    return {"ids_identical": float((ids.numpy() == out["ids"]).mean()),
            "embedding_rel_err": float(np.abs(emb - out["embedding"]).max()) / scale(emb),
            "text_embedding_rel_err": float(np.abs(temb - out["text_embedding"]).max()) / scale(temb)}


def check_floors(metrics: dict) -> list:
    return [f"{k} {metrics[k]:.4f} < {v}" for k, v in FLOORS.items() if metrics[k] < v]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint")
    p.add_argument("--bundle")
    # defaults: the full recipe's (the checkpoint shapes cannot tell heads and norm groups)
    p.add_argument("--vision-heads", type=int, default=FULL.model.vision.heads)
    p.add_argument("--text-heads", type=int, default=FULL.model.text.heads)
    p.add_argument("--vq-norm-groups", type=int, default=FULL.model.vq.norm_groups)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write the report here")
    args = p.parse_args(argv)
    if not args.checkpoint and not args.bundle:
        p.error("give --checkpoint and/or --bundle")
    torch.set_num_threads(args.threads)
    sets = held_out_sets()
    report = {"sets": {"retrieval_and_psnr": len(sets.retrieval), "zero_shot": len(sets.zero_shot)},
              "floors": FLOORS}
    model = None
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint, args.vision_heads, args.text_heads, args.vq_norm_groups)
        report["checkpoint"] = evaluate_checkpoint(model, sets)
    if args.bundle:
        metrics, out = evaluate_bundle(args.bundle, sets, args.threads)
        report["bundle"] = metrics
        if model is not None:
            report["bundle_vs_checkpoint"] = bundle_vs_checkpoint(model, sets, out)
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    failed = [f"{src}: {msg}" for src in ("checkpoint", "bundle") if src in report
              for msg in check_floors(report[src])]
    for msg in failed:
        print(f"below floor: {msg}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
