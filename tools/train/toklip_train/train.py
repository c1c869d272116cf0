"""Train the shipped demonstration TokLIP (toklip-scenes-128) on generated scenes, on CPU.

    tools/python -m toklip_train.train --out tools/train/runs/scenes128 --seed 0

Stage A trains the VQ and stage A2 fine-tunes it with object-weighted losses; stage B freezes it,
encodes the training scenes to token ids once and trains the causal token ViT (after next-token
pretraining, stage B0) and the text tower contrastively. The output folder receives:
toklip.pt (official checkpoint layout: {'state_dict': {'module.<key>': tensor}, ...}),
tokenizer.json, metrics.json (held-out metrics of the PyTorch model, times) and train.log.
Export with tools/export/export.py (see tools/train/README.md).
"""
from __future__ import annotations

import os

# OpenMP threads that spin at barriers waste most of their time on a shared, busy machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


import torch  # noqa: E402

from . import continued  # noqa: E402
from .pipeline import run  # noqa: E402
from .recipe import CONTINUATIONS, RECIPES  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="run folder (created; must not hold a checkpoint)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, data order and training scenes")
    p.add_argument("--recipe", choices=sorted([*RECIPES, *CONTINUATIONS]), default="full",
                   help="from scratch (full, smoke) or continuing a bundle's model (broad: needs --from-bundle)")
    p.add_argument("--from-bundle", help="the bundle a continuation recipe starts from (the predecessor model)")
    p.add_argument("--until", choices=continued.STAGES, help="continuation recipes: stop after this stage "
                   "(the next invocation resumes from its checkpoint)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    p.add_argument("--vq-from", help="development only: take the VQ from a previous run's vq.pt and "
                                     "skip the VQ stages it has been through (recorded in metrics.json)")
    p.add_argument("--ids-cache", default=str(Path(__file__).resolve().parents[1] / "runs" / ".ids-cache"),
                   help="folder that memoises the training scenes' token ids per VQ (default: "
                        "tools/train/runs/.ids-cache; 'none' disables it)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    continuation = CONTINUATIONS.get(args.recipe)
    if continuation is not None and not args.from_bundle:
        print(f"error: recipe {args.recipe} continues a model: give --from-bundle", file=sys.stderr)
        return 1
    if (out / "toklip.pt").exists() and not args.force:
        print(f"error: {out} already holds a checkpoint (use --force)", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    # A continuation resumes stage by stage: its log grows across invocations.
    log_file = open(out / "train.log", "a" if continuation is not None else "w")
    started = time.time()

    def log(msg: str) -> None:
        line = f"[{time.time() - started:7.0f}s] {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    log(f"command: {' '.join(sys.argv)}; torch {torch.__version__}, {args.threads} threads")
    if continuation is not None:
        continued.run(continuation, out, predecessor=Path(args.from_bundle), seed=args.seed, log=log, until=args.until,
                      ids_cache=None if args.ids_cache == "none" else Path(args.ids_cache))
        log_file.close()
        return 0
    metrics = run(RECIPES[args.recipe], out, seed=args.seed, log=log, vq_from=args.vq_from,
                  ids_cache=None if args.ids_cache == "none" else Path(args.ids_cache))
    log("metrics: " + json.dumps(metrics["heldout"]))
    log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
