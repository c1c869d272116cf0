"""Export a TokLIP checkpoint (or seeded random weights) to an ONNX model bundle.

    tools/python -m toklip_export.export --checkpoint TokLIP_S_256.pt --tokenizer tokenizer.json \
        --out models/toklip-s-256 [--vq-checkpoint vq_ds16_t2i.pt] [--dtype float16] [--golden]

See docs/export.md and docs/bundle-format.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from .bundle import ExportOptions, write_bundle
from .config import PRESETS
from .convert import CheckpointError, load_toklip, random_model
from .model_id import ModelIdError, check_model_id, model_id_from_folder
from .tokenizer import TokenizerError
from .validate import BundleError, check_bundle, check_cuda_coverage, check_parity


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="TokLIP .pt (dict with 'state_dict', or a bare state dict)")
    src.add_argument("--random-init", action="store_true",
                     help="no checkpoint: the preset's full-size model with seeded random weights (benchmarks)")
    p.add_argument("--vq-checkpoint", help="LlamaGen vq_ds16_t2i.pt: supplies the VQ, or cross-checks the embedded one")
    p.add_argument("--tokenizer", help="tokenizer.json of the text tower (SigLIP2: the Gemma tokenizer)")
    p.add_argument("--out", required=True, help="bundle folder to create (must be absent or empty)")
    p.add_argument("--name", help="model id in the manifest (default: the --out folder name, lower-cased, "
                                  "other characters than a-z 0-9 . _ - replaced by '-')")
    p.add_argument("--description")
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="defaults for what the checkpoint lacks; a contradicting checkpoint is an error")
    p.add_argument("--vision-heads", type=int, default=16, help="ViT attention heads (not in the shapes; 16)")
    p.add_argument("--text-heads", type=int, default=16, help="text tower attention heads (not in the shapes; 16)")
    p.add_argument("--vq-norm-groups", type=int, default=32, help="VQ GroupNorm groups (LlamaGen: 32)")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-init")
    p.add_argument("--golden", action="store_true", help="also write golden/ and check parity with onnxruntime-node")
    p.add_argument("--float32-vq-encoder", action="store_true",
                   help="with --dtype float16: keep vq_encoder in float32 (ids exactly as float32)")
    p.add_argument("--token-embedding", choices=("table", "mlp"), default="table",
                   help="semantic_encoder input stage: precomputed token-MLP table (default) or codebook + MLP")
    p.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)), help="torch CPU threads")
    p.add_argument("--no-parity", action="store_true", help="with --golden: skip the onnxruntime-node parity run")
    args = p.parse_args(argv)
    if args.random_init and not args.preset:
        p.error("--random-init needs --preset")
    return args


def cuda_coverage_lines(report: dict) -> list:
    """One line per graph: nodes on CUDA, and the shape-arithmetic nodes left on the CPU."""
    lines = []
    for g in report["graphs"]:
        ops: dict = {}
        for node in g["cpuNodes"]:
            ops[node["op"]] = ops.get(node["op"], 0) + 1
        cpu = ", ".join(f"{op} x{n}" for op, n in sorted(ops.items())) or "none"
        lines.append(f"{g['graph']}: {g['cudaNodes']} of {g['nodes']} nodes on CUDA; on the CPU (shape arithmetic): {cpu}")
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - started:7.1f}s] {msg}", flush=True)

    try:
        name = check_model_id(args.name) if args.name else model_id_from_folder(args.out)
        if os.path.isdir(args.out) and os.listdir(args.out):
            raise FileExistsError(f"{args.out} exists and is not empty")
        if not args.name and name != os.path.basename(os.path.normpath(args.out)):
            log(f"model id {name!r} (from the folder name; --name sets another)")
        if args.random_init:
            log(f"building {args.preset} with random weights (seed {args.seed})")
            loaded = random_model(args.preset, seed=args.seed, vision_heads=args.vision_heads,
                                  text_heads=args.text_heads)
            random_init = {"preset": args.preset, "seed": args.seed}
        else:
            log(f"loading {args.checkpoint}")
            loaded = load_toklip(args.checkpoint, vq_path=args.vq_checkpoint, preset=args.preset,
                                 vision_heads=args.vision_heads, text_heads=args.text_heads,
                                 norm_groups=args.vq_norm_groups)
            random_init = None
        for note in loaded.notes:
            log(note)
        cfg = loaded.config
        log(f"architecture: {cfg.image_size}px, grid {cfg.grid}x{cfg.grid}, codebook "
            f"{cfg.vq.codebook_size}x{cfg.vq.codebook_dim}, ViT {cfg.vision.width}x{cfg.vision.depth}, "
            + (f"text {cfg.text.width}x{cfg.text.depth} vocab {cfg.text.vocab_size}" if cfg.text else "no text tower"))
        opts = ExportOptions(name=name, dtype=args.dtype, tokenizer=args.tokenizer, golden=args.golden,
                             description=args.description, token_embedding=args.token_embedding,
                             float32_vq_encoder=args.float32_vq_encoder,
                             release_modules=True, log=log)
        write_bundle(loaded, args.out, opts, random_init=random_init)
        del loaded
        log("checking the bundle (manifest, files, onnx.checker)")
        check_bundle(args.out)
        log("CUDA coverage (onnxruntime's CUDA kernels, tools/export/cuda)")
        for line in cuda_coverage_lines(check_cuda_coverage(args.out)):
            log(f"  {line}")
        if args.golden and not args.no_parity:
            log("parity with onnxruntime-node")
            report = check_parity(args.out)
            for c in report["checks"]:
                note = f" [{c['note']}]" if c.get("note") else ""
                log(f"  {c['graph']}.{c['array']}: {c['metric']} {c['value']:.3g} (limit {c['limit']}){note}")
        log(f"done: {args.out}")
        return 0
    except (ModelIdError, CheckpointError, TokenizerError, BundleError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
