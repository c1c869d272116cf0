"""GPU baseline of the networks in PyTorch (no onnxruntime): the exporter's own modules
(tools/export/toklip_export) of toklip-l-384 and toklip-s-256 with random weights, in float16 and
bfloat16, at batch 1..256, for the four paths of the service:

    image_to_ids             pixels -> VQ encoder -> quantiser -> ids  (the vq_encoder graph; the
                             quantiser in float32, as in float16 bundles)
    ids_to_embedding         ids -> semantic encoder -> embedding      (semantic_encoder)
    image_to_ids_embedding   both, one after the other                 (POST /v1/encode of an image)
    ids_to_image             ids -> VQ decoder -> pixels               (vq_decoder)

Reports images/s and the fraction of the GPU's dense float16 peak that the work reaches (FLOPs
per image counted by torch.profiler's formulas for convolutions and matrix products; peak from
NVIDIA's datasheet for known GPUs or --peak-tflops, and the measured peak of a large float16
matrix product). Inputs are on the GPU before timing: no PCIe, no image decoding.

    tools/python bench/python/gpu_baseline.py [--device cuda] [--out DIR] [--presets toklip-l-384,toklip-s-256]
        [--dtypes float16,bfloat16] [--batches 1,2,4,...,256] [--budget-seconds 540] [--peak-tflops N]
        [--tiny]   # a tiny model instead of the presets (tests on CPU)

bench/gpu-baseline.sh runs it as one command within 10 minutes. Prints progress, then one JSON
line (the results, also written to DIR/gpu-baseline.json with a table in DIR/gpu-baseline.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from typing import Callable, Dict, List, Optional

import torch
from torch.profiler import ProfilerActivity, profile

from inputs import id_input, pixel_input
from toklip_export import onnx_export as ox
from toklip_export.config import PRESETS, TokLIPConfig, tiny_config
from toklip_export.model import build_model

PATHS = ("image_to_ids", "ids_to_embedding", "image_to_ids_embedding", "ids_to_image")
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
DEFAULT_BATCHES = "1,2,4,8,16,32,64,128,256"
# Dense (no sparsity) float16/bfloat16 tensor-core peaks from NVIDIA's datasheets, TFLOP/s
# (the datasheets' "with sparsity" figures halved). Matched against torch's device name.
DENSE_FP16_TFLOPS = (
    ("H200", 989.4), ("H100 NVL", 835.5), ("H100 PCIe", 756.5), ("H100", 989.4), ("GH200", 989.4),
    ("A100", 312.0), ("A800", 312.0), ("L40S", 362.1), ("L40", 181.0), ("L4", 121.0),
    ("A10", 125.0), ("A30", 165.0), ("T4", 65.0), ("V100", 125.0),
)


def model_config(preset: Optional[str]) -> TokLIPConfig:
    """The image side of a preset (the text tower is not timed), or the tiny test model."""
    cfg = tiny_config(64, text=False) if preset is None else PRESETS[preset]
    return dataclasses.replace(cfg, text=None)


@torch.no_grad()
def random_weights_(model: torch.nn.Module, seed: int) -> None:
    """Random weights drawn on the model's device (a full-size model initialises in seconds on a
    GPU): N(0, 0.02) matrices and kernels, unit norm scales, zero biases."""
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            p.normal_(0.0, 0.02, generator=gen)
        elif name.endswith("weight"):
            p.fill_(1.0)
        else:
            p.zero_()


def build_paths(cfg: TokLIPConfig, device: torch.device, dtype: torch.dtype, seed: int) -> Dict[str, Callable]:
    model = build_model(cfg, init="none").to(device)
    random_weights_(model, seed)
    encoder = ox.VQEncoderZ(model.vq).to(dtype).eval()
    quantiser = ox.Quantiser(model.vq).eval()  # float32: ids as in the float16 bundles
    semantic = ox.SemanticEncoder(model.trunk, "table").to(dtype).eval()
    decoder = ox.VQDecoder(model.vq, cfg.grid).to(dtype).eval()

    def image_to_ids(pixels):
        return quantiser(encoder(pixels).float())

    def ids_to_embedding(ids):
        return semantic(ids)[1]

    return {
        "image_to_ids": image_to_ids,
        "ids_to_embedding": ids_to_embedding,
        "image_to_ids_embedding": lambda pixels: ids_to_embedding(image_to_ids(pixels)),
        "ids_to_image": decoder,
    }


def make_input(path: str, cfg: TokLIPConfig, batch: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    if path in ("image_to_ids", "image_to_ids_embedding"):
        return pixel_input(batch, cfg.image_size).to(device=device, dtype=dtype)
    return id_input(batch, cfg.num_tokens, cfg.vq.codebook_size).to(device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# The ops whose FLOPs count, as in the spec's cost table and bench/python/onnx_tools.py flops:
# convolutions and matrix products (the profiler also gives elementwise ops FLOPs).
COUNTED_OPS = ("aten::conv2d", "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def flops_per_item(fn: Callable, x: torch.Tensor) -> float:
    """FLOPs of one run on a batch of one: 2 x the multiply-adds of convolutions and matrix
    products, from torch.profiler's formulas."""
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        fn(x)
    return float(sum(e.flops for e in prof.key_averages() if e.key in COUNTED_OPS))


def time_batch(fn: Callable, x: torch.Tensor, device: torch.device, target_seconds: float, max_iterations: int) -> dict:
    for _ in range(2):  # warm-up: allocator, cuDNN algorithm search for this shape
        fn(x)
    synchronize(device)
    times: List[float] = []
    while True:
        t0 = time.perf_counter()
        fn(x)
        synchronize(device)
        times.append(time.perf_counter() - t0)
        if (sum(times) >= target_seconds and len(times) >= 3) or len(times) >= max_iterations:
            break
    times.sort()
    median = times[len(times) // 2]
    return {"iterations": len(times), "medianMs": median * 1000, "itemsPerSecond": x.shape[0] / median}


def is_out_of_memory(e: BaseException) -> bool:
    return "out of memory" in str(e).lower()


def gemm_peak_tflops(device: torch.device, dtype: torch.dtype, n: int) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    m = time_batch(lambda _: torch.matmul(a, b), a[:1], device, 0.5, 20)
    return 2 * n ** 3 / (m["medianMs"] / 1000) / 1e12


def datasheet_peak(name: str) -> Optional[float]:
    return next((tflops for key, tflops in DENSE_FP16_TFLOPS if key in name), None)


def run(args) -> dict:
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = args.peak_tflops if args.peak_tflops is not None else datasheet_peak(name)
    gemm_dtype = DTYPES["float16" if device.type == "cuda" else args.dtypes.split(",")[0]]
    gemm = gemm_peak_tflops(device, gemm_dtype, args.gemm_size)
    print(f"  device {name}: dense float16 peak {peak if peak is not None else '?'} TFLOP/s (datasheet), "
          f"measured {gemm_dtype} GEMM {args.gemm_size}^3: {gemm:.1f} TFLOP/s", flush=True)
    started = time.perf_counter()
    batches = [int(b) for b in args.batches.split(",")]
    presets = [None] if args.tiny else args.presets.split(",")
    runs = []
    for preset in presets:
        cfg = model_config(preset)
        label = preset or "tiny-64"
        for dtype_name in args.dtypes.split(","):
            dtype = DTYPES[dtype_name]
            t0 = time.perf_counter()
            paths = build_paths(cfg, device, dtype, args.seed)
            synchronize(device)
            print(f"  {label} {dtype_name}: built in {time.perf_counter() - t0:.1f} s", flush=True)
            with torch.inference_mode():
                for path in PATHS:
                    fn = paths[path]
                    flops = flops_per_item(fn, make_input(path, cfg, 1, device, dtype))
                    for batch in batches:
                        point = {"preset": label, "dtype": dtype_name, "path": path, "batch": batch,
                                 "flopsPerItem": flops}
                        if time.perf_counter() - started > args.budget_seconds:
                            runs.append({**point, "skipped": "time budget spent"})
                            continue
                        try:
                            m = time_batch(fn, make_input(path, cfg, batch, device, dtype), device,
                                           args.target_seconds, args.max_iterations)
                        except RuntimeError as e:
                            if not is_out_of_memory(e):
                                raise
                            if device.type == "cuda":
                                torch.cuda.empty_cache()
                            runs.append({**point, "skipped": "out of memory"})
                            break
                        achieved = flops * m["itemsPerSecond"] / 1e12
                        point.update(m, achievedTflops=achieved,
                                     fractionOfPeak=achieved / peak if peak else None,
                                     fractionOfGemm=achieved / gemm)
                        runs.append(point)
                        print(f"  {label} {dtype_name} {path:<23} b={batch:>3}: {m['itemsPerSecond']:10.1f} images/s"
                              f"  {achieved:8.2f} TFLOP/s" + (f" ({100 * achieved / peak:.1f} % of peak)" if peak else ""),
                              flush=True)
            del paths
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return {"device": name, "torch": torch.__version__, "denseFp16PeakTflops": peak,
            "peakSource": "--peak-tflops" if args.peak_tflops is not None else ("datasheet" if peak else None),
            "gemmTflops": gemm, "gemmDtype": str(gemm_dtype).replace("torch.", ""),
            "seconds": time.perf_counter() - started, "runs": runs}


def markdown(result: dict) -> str:
    """Best images/s per path and preset, with the batch that reached it and the peak fraction."""
    lines = [f"Device: {result['device']}, torch {result['torch']}; dense float16 peak "
             f"{result['denseFp16PeakTflops'] or '?'} TFLOP/s; measured GEMM {result['gemmTflops']:.1f} TFLOP/s.", "",
             "| preset | dtype | path | GFLOP per image | best images/s | at batch | % of dense peak | % of GEMM |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    groups: Dict[tuple, List[dict]] = {}
    for r in result["runs"]:
        groups.setdefault((r["preset"], r["dtype"], r["path"]), []).append(r)
    for (preset, dtype, path), runs in groups.items():
        timed = [r for r in runs if "itemsPerSecond" in r]
        if not timed:
            lines.append(f"| {preset} | {dtype} | {path} | {runs[0]['flopsPerItem'] / 1e9:.1f} | - | - | - | - |")
            continue
        best = max(timed, key=lambda r: r["itemsPerSecond"])
        peak = f"{100 * best['fractionOfPeak']:.1f}" if best["fractionOfPeak"] is not None else "?"
        lines.append(f"| {preset} | {dtype} | {path} | {best['flopsPerItem'] / 1e9:.1f} | {best['itemsPerSecond']:.1f} "
                     f"| {best['batch']} | {peak} | {100 * best['fractionOfGemm']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--presets", default="toklip-l-384,toklip-s-256")
    p.add_argument("--tiny", action="store_true", help="a tiny 64 px model instead of the presets (tests)")
    p.add_argument("--dtypes", default="float16,bfloat16")
    p.add_argument("--batches", default=DEFAULT_BATCHES)
    p.add_argument("--target-seconds", type=float, default=0.5, help="timed runs per point, at least 3")
    p.add_argument("--max-iterations", type=int, default=20)
    p.add_argument("--budget-seconds", type=float, default=540.0, help="no new point starts after this")
    p.add_argument("--peak-tflops", type=float, help="dense float16 peak of the device (default: datasheet)")
    p.add_argument("--gemm-size", type=int, default=8192)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for gpu-baseline.json and gpu-baseline.md")
    args = p.parse_args(argv)
    for d in args.dtypes.split(","):
        if d not in DTYPES:
            p.error(f"unknown dtype {d}")
    result = run(args)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "gpu-baseline.json"), "w") as f:
            json.dump(result, f, indent=1)
        with open(os.path.join(args.out, "gpu-baseline.md"), "w") as f:
            f.write(markdown(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
