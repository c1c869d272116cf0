"""Time one training step of a recipe's stages and show where it goes, by kind of operation.

    tools/python -m toklip_train.profile_steps --stages a b

Stage A, A2 and A3 steps train the VQ on freshly rendered scenes, as `train.py` does (codebook
not k-means initialised: the cost is the same); a stage-B step trains the towers on random token
ids of real training scenes' captions. Prints seconds a step, then the share of the profiled
steps' CPU time per kind of operation (convolutions, matrix products, normalisation, activations,
copies, other), the costliest operations, and the arithmetic rate of convolutions and products.
This is the evidence behind tools/train/README.md's step costs: what a faster recipe can and cannot
win by engineering alone.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as train.py: spinning threads distort timings

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List, Sequence, Tuple  # noqa: E402


import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from .contrastive import ContrastiveTrainer, init_towers  # noqa: E402
from .data import scene_batch  # noqa: E402
from .networks import TokLIP  # noqa: E402
from .recipe import RECIPES, Recipe  # noqa: E402
from .vq_training import VQTrainer  # noqa: E402

VQ_STAGES = {"a": "vq", "a2": "vq_object", "a3": "vq_shape"}  # stage -> its Recipe field

# Kinds of operation, by substrings of the aten operator name (first match wins).
KINDS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("convolution", ("conv",)),
    ("matrix product", ("::mm", "bmm", "addmm", "matmul", "linear")),
    ("normalisation", ("group_norm", "layer_norm", "::norm")),
    ("activation", ("gelu", "sigmoid", "silu", "softmax", "tanh")),
    ("copy and layout", ("copy", "::cat", "contiguous", "clone")),
)


def kind_of(op: str) -> str:
    return next((kind for kind, keys in KINDS if any(k in op for k in keys)), "other")


def vq_step(recipe: Recipe, stage: str, seed: int) -> Tuple[Callable[[int], None], int]:
    cfg = getattr(recipe, VQ_STAGES[stage])
    if cfg is None:
        raise SystemExit(f"recipe {recipe.name} has no stage {stage.upper()}")
    trainer = VQTrainer(recipe.model.vq, cfg, seed=seed, data_seed=seed, log=lambda _: None)
    # time whole-scene quantised steps, as most of the stage is (past the k-means start and any crops)
    first = max(cfg.continuous_steps, cfg.crop_steps) + 1
    return (lambda i: trainer.step(first + i)), cfg.batch_size


def contrastive_step(recipe: Recipe, seed: int) -> Tuple[Callable[[int], None], int]:
    cfg = recipe.contrastive
    pool = 4 * cfg.batch_size
    model = init_towers(TokLIP(recipe.model), seed)
    ids = torch.randint(0, recipe.model.vq.codebook_size, (pool, recipe.model.vision.num_tokens),
                        generator=torch.Generator().manual_seed(seed))
    trainer = ContrastiveTrainer(model, cfg, ids, scene_batch("train", 0, pool, seed), seed=seed,
                                 log=lambda _: None)
    order = np.random.default_rng(seed).permutation(pool)
    return (lambda i: trainer.step(i, np.roll(order, -i * cfg.batch_size))), cfg.batch_size


def measure(step: Callable[[int], None], warmup: int, steps: int, profiled: int):
    for i in range(warmup):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    seconds = (time.perf_counter() - start) / max(steps, 1)
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        for i in range(profiled):
            step(warmup + steps + i)
    return seconds, prof.key_averages()


def shares(averages) -> Tuple[Dict[str, float], List[Tuple[str, float]]]:
    """Share of self CPU time per kind, and the operations sorted by self CPU time (seconds)."""
    ops = [(a.key, a.self_cpu_time_total / 1e6) for a in averages if a.self_cpu_time_total > 0]
    total = sum(t for _, t in ops) or 1.0
    by_kind: Dict[str, float] = {kind: 0.0 for kind, _ in KINDS}
    by_kind["other"] = 0.0
    for op, t in ops:
        by_kind[kind_of(op)] += t / total
    return by_kind, sorted(ops, key=lambda o: -o[1])


def rates(averages, min_gflop: float = 0.1) -> List[Tuple[str, float, float]]:
    """(operator, GFLOP, GFLOP/s) of the operators the profiler counts arithmetic for (forward
    convolutions and matrix products; a convolution's backward is not counted), over their total
    CPU time, which for `conv2d` includes the kernel it calls."""
    return sorted(((a.key, a.flops / 1e9, a.flops / 1e3 / a.cpu_time_total) for a in averages
                   if a.flops and a.flops / 1e9 >= min_gflop and a.cpu_time_total > 0), key=lambda r: -r[1])


def report(name: str, seconds: float, batch: int, averages, top: int) -> None:
    by_kind, ops = shares(averages)
    print(f"stage {name}: {seconds:.3f} s a step of {batch} scenes "
          f"({1000 * seconds / batch:.1f} ms each, {torch.get_num_threads()} threads)")
    print("  " + ", ".join(f"{kind} {100 * share:.0f} %" for kind, share in by_kind.items()))
    for op, t in ops[:top]:
        print(f"    {op:<40} {1000 * t:9.1f} ms")
    print("  arithmetic rate: " + ", ".join(f"{op} {gflop:.1f} GFLOP at {rate:.0f} GFLOP/s"
                                            for op, gflop, rate in rates(averages)))


def parse_args(argv: Sequence[str] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", choices=sorted(RECIPES), default="full")
    p.add_argument("--stages", nargs="+", choices=[*VQ_STAGES, "b"], default=["a", "b"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--profiled", type=int, default=5, help="steps under the profiler, after the timed ones")
    p.add_argument("--top", type=int, default=8, help="costliest operations listed")
    return p.parse_args(argv)


def main(argv: Sequence[str] = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = RECIPES[args.recipe]
    for stage in args.stages:
        torch.manual_seed(args.seed)
        step, batch = contrastive_step(recipe, args.seed) if stage == "b" else vq_step(recipe, stage, args.seed)
        seconds, averages = measure(step, args.warmup, args.steps, args.profiled)
        report(stage.upper(), seconds, batch, averages, args.top)


if __name__ == "__main__":
    main()
