#!/usr/bin/env python3
"""Fine-tune a trained stage-A VQ with object-weighted reconstruction losses (experimental).

    python3 tools/train/finetune_vq.py --vq-from RUN/vq.pt --out DIR [--object-weight 8] [--steps 1000]

Pixels on and within 2 px of a shape weigh 1 + object_weight in the L1 and L2 losses
(`VQTrainConfig.object_weight`), so the codes keep small shapes' outlines rather than spending
their capacity on backgrounds. Writes DIR/vq.pt and DIR/metrics.json (held-out PSNR, times), the
layout train.py's `--vq-from` reads. Not in the full recipe yet: see tools/train/README.md,
"Object-weighted VQ", for what it measured.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from toklip_train.data import render  # noqa: E402
from toklip_train.evaluation import held_out_sets  # noqa: E402
from toklip_train.pipeline import Clock  # noqa: E402
from toklip_train.recipe import FULL  # noqa: E402
from toklip_train.vq_training import VQTrainConfig, VQTrainer  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vq-from", required=True, help="a run's vq.pt")
    p.add_argument("--out", required=True)
    p.add_argument("--object-weight", type=float, default=8.0)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, flush=True)  # noqa: E731
    cfg = VQTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=50, gradient_weight=0.0,
                        object_weight=args.object_weight, continuous_steps=0, eval_every=250, log_every=50)
    # data_seed + 1: scenes stage A did not see in this order
    trainer = VQTrainer(FULL.model.vq, cfg, seed=args.seed, data_seed=args.seed + 1, log=log)
    trainer.start_from(torch.load(args.vq_from, map_location="cpu")["state_dict"])
    held_out = render(held_out_sets().retrieval[:cfg.eval_images])
    before = trainer.evaluate(held_out)
    clock = Clock()
    vq = trainer.train(held_out)
    times = clock.read()
    torch.save({"step": args.steps, "state_dict": vq.state_dict()}, out / "vq.pt")
    metrics = {"vq_from": args.vq_from, "config": vars(args), "psnr_before": before["psnr"],
               "psnr_after": trainer.history[-1]["eval_psnr"],  # train() evaluates its last step "times": {"stage_a_vq": times},
               "history": trainer.history}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    log(f"held-out PSNR {metrics['psnr_before']:.2f} -> {metrics['psnr_after']:.2f} dB; {times}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
