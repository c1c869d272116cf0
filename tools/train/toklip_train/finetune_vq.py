"""Run one of the full recipe's VQ fine-tunes alone on a trained VQ: stage A2 (object-weighted)
or stage A3 (shape-aware).

    tools/python -m toklip_train.finetune_vq --vq-from RUN/vq.pt --out DIR [--stage a2|a3] [--object-weight 8]
        [--shape-weight 0.5] [--small-share 0.5] [--steps N] [--lr LR]

train.py runs the recipe's fine-tunes itself (stages A2 and A3); this script is for trying other
settings on an existing VQ without the towers (pair it with diagnose_shape.py). Pixels on and within 2 px of a shape weigh
1 + object_weight in the L1 and L2 losses (`VQTrainConfig.object_weight`); stage A3 adds a CNN on
the code grid that names the scene's shapes (`scene_shape_weight`). Writes DIR/vq.pt (with its
stage record, so `train.py --vq-from DIR/vq.pt` skips the stages done) and DIR/metrics.json
(held-out PSNR before and after, times).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


import torch  # noqa: E402

from .clock import Clock  # noqa: E402
from .data import render  # noqa: E402
from .evaluation import held_out_sets  # noqa: E402
from .networks import VQModel  # noqa: E402
from .recipe import FULL  # noqa: E402
from .vq_stages import FINE_TUNES, fine_tune, load_vq, save_vq  # noqa: E402
from .vq_training import VQTrainer  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vq-from", required=True, help="a run's vq.pt (the stages before --stage done)")
    p.add_argument("--out", required=True)
    p.add_argument("--stage", choices=[stage for stage, _, _ in FINE_TUNES], default="a2")
    p.add_argument("--object-weight", type=float, help="default: the recipe's for the stage")
    p.add_argument("--shape-weight", type=float, help="scene_shape_weight; default: the recipe's for the stage")
    p.add_argument("--small-share", type=float, help="small_shape_share: this share of each batch holds a small shape")
    p.add_argument("--steps", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, flush=True)  # noqa: E731
    recipe = getattr(FULL, dict((stage, field) for stage, field, _ in FINE_TUNES)[args.stage])  # its settings
    given = {"object_weight": args.object_weight, "scene_shape_weight": args.shape_weight, "steps": args.steps,
             "lr": args.lr, "small_shape_share": args.small_share}
    cfg = dataclasses.replace(recipe, **{k: v for k, v in given.items() if v is not None})
    saved = load_vq(Path(args.vq_from))
    start = VQModel(FULL.model.vq)
    start.load_state_dict(saved["state_dict"])
    held_out = render(held_out_sets().retrieval[:cfg.eval_images])
    before = VQTrainer(FULL.model.vq, cfg, seed=args.seed, data_seed=args.seed, log=log).start_from(
        start.state_dict()).evaluate(held_out)
    clock = Clock()
    tuner = fine_tune(args.stage, FULL.model.vq, cfg, start, seed=args.seed, log=log, eval_images=held_out)
    stages = {**saved["stages"], args.stage: {"run": str(out.resolve()), "script": "finetune_vq.py",
                                              **clock.read(), "config": dataclasses.asdict(cfg)}}
    save_vq(out / "vq.pt", tuner.model, stages)
    metrics = {"vq_from": args.vq_from, "config": dataclasses.asdict(cfg), "seed": args.seed,
               "psnr_before": before["psnr"],
               "psnr_after": tuner.history[-1]["eval_psnr"],  # train() evaluates its last step
               "vq_stages": stages, "history": tuner.history}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    log(f"held-out PSNR {metrics['psnr_before']:.2f} -> {metrics['psnr_after']:.2f} dB; {stages[args.stage]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
