#!/usr/bin/env python3
"""PyTorch eager baseline on the exporter's own modules (tools/export/toklip_export), with the
same inputs as the ONNX Runtime benchmark (bench/lib/bundle.ts) and the same thread count.

    torch_bench.py graphs --bundle DIR [--threads 2] [--batches 1,2,4,8,16] [--target-seconds 3]
                          [--max-iterations 20] [--graphs vq_encoder,...]
    torch_bench.py peak --threads 2 --shapes 2048x2048x2048,... [--chains 4096x1152x8,...] [--target-seconds 3]
    torch_bench.py info

Each prints progress lines, then one JSON line (the result) last on stdout.

Weights: a bundle exported with --random-init records its preset and seed, so the same seeded
model is rebuilt here (identical weights). Other bundles (a trained model) get seeded random
weights of the architecture in their manifest: the same networks and shapes, so the same work.
Threads: torch.set_num_threads(N); OpenBLAS reads OPENBLAS_NUM_THREADS, which the Node
launcher sets to N before this process starts.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Callable, Dict, List

import torch

# Run through tools/python (bench/torch.ts and bench/peak.ts do), which puts toklip_export on
# PYTHONPATH; this script's own folder (inputs.py) is on sys.path as for any script.
from toklip_export import onnx_export as ox
from toklip_export.config import PRESETS, TextConfig, TokLIPConfig, VisionConfig, VQConfig
from toklip_export.convert import random_model
from toklip_export.model import build_model

from inputs import id_input, pixel_input, text_input


# --- environment -----------------------------------------------------------------------------

def loaded_blas() -> List[str]:
    """Shared libraries of this process whose name says BLAS/LAPACK/OpenMP (from /proc/self/maps)."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path)
            if any(k in name for k in ("blas", "lapack", "mkl", "gomp", "omp", "dnnl")):
                libs.add(path)
    return sorted(libs)


def info(threads: int) -> dict:
    return {
        "version": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "requested_threads": threads,
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "blas": loaded_blas(),
        "config": torch.__config__.show(),
        "parallel": torch.__config__.parallel_info(),
    }


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


# --- timing ----------------------------------------------------------------------------------

def measure(fn: Callable[[], object], batch: int, target_seconds: float, max_iterations: int,
            warmup: bool = True) -> dict:
    first = None
    if warmup:
        t0 = time.perf_counter()
        fn()
        first = (time.perf_counter() - t0) * 1000
    times: List[float] = []
    spent = 0.0
    cpu0 = time.process_time()  # CPU time of every thread of the process
    while True:
        t0 = time.perf_counter()
        fn()
        ms = (time.perf_counter() - t0) * 1000
        times.append(ms)
        spent += ms
        if spent >= target_seconds * 1000 or len(times) >= max_iterations:
            break
    cpu_ms = (time.process_time() - cpu0) * 1000
    s = sorted(times)
    return {"batch": batch, "firstMs": first, "iterations": len(times), "meanMs": spent / len(times),
            "medianMs": s[len(s) // 2], "minMs": s[0], "itemsPerSecond": batch * len(times) * 1000 / spent,
            "cpuMsPerItem": cpu_ms / (batch * len(times))}


# --- graphs ----------------------------------------------------------------------------------

def config_from_manifest(m: dict) -> TokLIPConfig:
    a = m["architecture"]
    vq = VQConfig(codebook_size=m["codebook"]["size"], codebook_dim=m["codebook"]["dim"], **a["vq"])
    vision = VisionConfig(num_tokens=m["num_tokens"], **a["vision"])
    text = None
    if a.get("text") and m.get("text"):
        text = TextConfig(context_length=m["text"]["context_length"], embed_dim=a["vision"]["width"], **a["text"])
    return TokLIPConfig(image_size=m["image_size"], vq=vq, vision=vision, text=text)


def build(manifest: dict):
    """(model, config, weights note)."""
    cfg = config_from_manifest(manifest)
    random_init = (manifest.get("source") or {}).get("random_init")
    if random_init and random_init.get("preset") in PRESETS:
        loaded = random_model(random_init["preset"], seed=random_init["seed"], vision_heads=cfg.vision.heads,
                              text_heads=cfg.text.heads if cfg.text else 16)
        if loaded.config != cfg:
            raise SystemExit("the preset rebuilt here differs from the bundle's architecture")
        return loaded.model, cfg, f"identical to the bundle (random init, preset {random_init['preset']}, seed {random_init['seed']})"
    return build_model(cfg, init="random", seed=0), cfg, "seeded random weights of the bundle's architecture (same shapes and work)"


class VQEncoderIds(torch.nn.Module):
    """pixels -> ids, as the vq_encoder graph (encoder + quant_conv + distance-form quantiser)."""

    def __init__(self, vq):
        super().__init__()
        self.z = ox.VQEncoderZ(vq)
        self.quantiser = ox.Quantiser(vq)

    def forward(self, pixels):
        return self.quantiser(self.z(pixels))


class EmbeddingOnly(torch.nn.Module):
    """semantic_encoder as the service's encode path uses it (embedding output)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, ids):
        return self.inner(ids)[1]


def graph_modules(model, cfg: TokLIPConfig, manifest: dict) -> Dict[str, torch.nn.Module]:
    mods = {
        "vq_encoder": VQEncoderIds(model.vq),
        "semantic_encoder": EmbeddingOnly(ox.SemanticEncoder(model.trunk, manifest.get("semantic_encoder_input", "table"))),
        "vq_decoder": ox.VQDecoder(model.vq, cfg.grid),
    }
    if model.text is not None:
        mods["text_encoder"] = ox.TextEncoder(model.text)
    return {k: v.eval() for k, v in mods.items()}


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def run_graphs(args) -> dict:
    manifest = json.load(open(os.path.join(args.bundle, "manifest.json")))
    t0 = time.perf_counter()
    model, cfg, weights = build(manifest)
    build_seconds = time.perf_counter() - t0
    mods = graph_modules(model, cfg, manifest)
    wanted = args.graphs.split(",") if args.graphs else list(mods)
    batches = [int(b) for b in args.batches.split(",")]
    runs = []
    print(f"  torch {torch.__version__}: {manifest['name']} built in {build_seconds:.1f} s ({weights}); "
          f"RSS {rss() / 2**20:.0f} MiB", flush=True)
    with torch.inference_mode():
        for name in wanted:
            if name not in mods:
                continue
            for i, batch in enumerate(batches):
                if name == "vq_encoder":
                    x = pixel_input(batch, cfg.image_size)
                elif name == "text_encoder":
                    x = text_input(batch, cfg.text.context_length, cfg.text.vocab_size)
                else:
                    x = id_input(batch, cfg.num_tokens, cfg.vq.codebook_size)
                # Eager PyTorch plans nothing per shape, and glibc maps and unmaps large tensors
                # on every call, so one warm-up run per graph (at its first batch size) is enough.
                m = measure(lambda: mods[name](x), batch, args.target_seconds, args.max_iterations, warmup=i == 0)
                m["graph"] = name
                runs.append(m)
                first = f"first {m['firstMs']:.0f} ms, " if m["firstMs"] is not None else ""
                print(f"  {name:<18} b={batch:>2}: {m['medianMs']:8.1f} ms/batch  {m['itemsPerSecond']:8.3f} items/s"
                      f"  {m['cpuMsPerItem']:8.1f} CPU ms/item"
                      f"  ({first}{m['iterations']} timed)", flush=True)
    return {"bundle": manifest["name"], "weights": weights, "buildSeconds": build_seconds, "torch": info(args.threads),
            "runs": runs}


def run_peak(args) -> dict:
    points = []
    for shape in args.shapes.split(","):
        m, k, n = (int(v) for v in shape.split("x"))
        gen = torch.Generator().manual_seed(0)
        a = torch.rand(m, k, generator=gen) - 0.5
        b = torch.rand(k, n, generator=gen) - 0.5
        r = measure(lambda: torch.matmul(a, b), 1, args.target_seconds, 50)
        points.append({"m": m, "k": k, "n": n, "iterations": r["iterations"], "medianMs": r["medianMs"],
                       "gflopsPerSecond": 2 * m * k * n / (r["medianMs"] * 1e6),
                       "gflopsPerCpuSecond": 2 * m * k * n / (r["cpuMsPerItem"] * 1e6)})
    for chain in filter(None, args.chains.split(",")):
        # X[M,K] through D matmuls with fixed [K,K] weights (bench/python/onnx_tools.py matmul-chain)
        m, k, depth = (int(v) for v in chain.split("x"))
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(m, k, generator=gen) - 0.5
        ws = [(torch.rand(k, k, generator=gen) - 0.5) * 2 * (3.0 / k) ** 0.5 for _ in range(depth)]

        def run_chain(x=x, ws=ws):
            h = x
            for w in ws:
                h = torch.matmul(h, w)
            return h
        r = measure(run_chain, 1, args.target_seconds, 50)
        flops = 2 * m * k * k * depth
        points.append({"m": m, "k": k, "n": k, "depth": depth, "weights": "constant", "iterations": r["iterations"],
                       "medianMs": r["medianMs"], "gflopsPerSecond": flops / (r["medianMs"] * 1e6),
                       "gflopsPerCpuSecond": flops / (r["cpuMsPerItem"] * 1e6)})
    best = max(points, key=lambda p: p["gflopsPerSecond"])
    i = info(args.threads)
    return {"points": points, "best": best, "version": i["version"], "blas": i["blas"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("graphs")
    g.add_argument("--bundle", required=True)
    g.add_argument("--graphs")
    g.add_argument("--batches", default="1,2,4,8,16")
    g.add_argument("--target-seconds", type=float, default=3.0)
    g.add_argument("--max-iterations", type=int, default=20)
    pk = sub.add_parser("peak")
    pk.add_argument("--shapes", default="2048x2048x2048,4096x4096x4096")
    pk.add_argument("--chains", default="", help="MxKxD: X[M,K] through D matmuls with [K,K] weights")
    pk.add_argument("--target-seconds", type=float, default=3.0)
    sub.add_parser("info")
    for s in (g, pk):
        s.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    threads = getattr(args, "threads", 2)
    set_threads(threads)
    if args.command == "graphs":
        out = run_graphs(args)
    elif args.command == "peak":
        out = run_peak(args)
    else:
        out = info(threads)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
