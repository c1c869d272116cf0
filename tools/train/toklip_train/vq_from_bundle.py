"""Recovers the PyTorch VQ (a vq.pt for `train.py --vq-from` and `finetune_vq.py`) from an exported
bundle's vq_encoder.onnx and vq_decoder.onnx.

Why: a run folder's vq.pt is not committed, only the bundle is; a later VQ stage (or a tower
retrain) starts from the shipped VQ without retraining stages A, A2 and A3 (about 2.5 CPU-hours).

How: the exporter's own graph modules are exported once more from a VQModel whose parameters
hold distinct random values; every initializer of that graph is traced back to the parameter it
came from (constant folding renames GroupNorm scales and reshapes them), and the bundle's
initializer in the same place (same consuming node and input) gives that parameter's trained
value. A check re-exports the recovered VQ and requires every initializer to equal the bundle's.

    python3 tools/train/vq_from_bundle.py --bundle models/toklip-scenes-128 --out runs/shipped/vq.pt \
        [--stages RECORD.json]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from .networks import VQConfig, VQModel
from .recipe import FULL
from .vq_stages import FINE_TUNES, save_vq

from toklip_export.onnx_export import BATCH, VQDecoder, VQEncoderZ, export_module


def vq_config(manifest: dict) -> VQConfig:
    arch = manifest["architecture"]["vq"]
    return VQConfig(base_channels=arch["base_channels"], channel_multipliers=tuple(arch["channel_multipliers"]),
                    encoder_res_blocks=arch["encoder_res_blocks"], decoder_res_blocks=arch["decoder_res_blocks"],
                    z_channels=arch["z_channels"], codebook_size=manifest["codebook"]["size"],
                    codebook_dim=manifest["codebook"]["dim"], norm_groups=arch["norm_groups"])


_SUFFIX = re.compile(r"_\d+(?=/|$)")


def _initializers(path: Path) -> Dict[str, np.ndarray]:
    """Initializers keyed by where they are used: "consumer node name#occurrence/input slot".
    Constant folding gives GroupNorm scales generated names ("onnx::Mul_592"), node names can get
    numeric suffixes that depend on what the process exported before ("norm2_4"), which are
    dropped, and the exporter replaces repeated equal initializers (a fresh model's norms) by
    Identity nodes on one of them, which are looked through. The nodes' names follow the module
    tree and their order the forward pass."""
    model = onnx.load(str(path))
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in values:
            values[node.output[0]] = values[node.input[0]]
    keyed: Dict[str, np.ndarray] = {}
    seen: Dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type == "Identity":
            continue
        name = _SUFFIX.sub("", node.name)
        occurrence = seen.get(name, 0)
        seen[name] = occurrence + 1
        for slot, value in enumerate(node.input):
            if value in values:
                keyed.setdefault(f"{name}#{occurrence}/{slot}", values[value])
    return keyed


def _export(vq: VQModel, grid: int, folder: Path) -> Dict[str, Dict[str, np.ndarray]]:
    """The encoder (pixels -> z) and decoder graphs of `vq`, exported as the exporter exports them:
    its example inputs (a batch of 2) and dynamic batch axes, on which node names depend."""
    size = grid * 16
    pixels = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ids = torch.randint(0, vq.config.codebook_size, (2, grid * grid), generator=torch.Generator().manual_seed(0))
    export_module(VQEncoderZ(vq), [pixels], ["pixels"], ["z"], {"pixels": {0: BATCH}, "z": {0: BATCH}},
                  str(folder / "enc.onnx"))
    export_module(VQDecoder(vq, grid), [ids], ["ids"], ["pixels"], {"ids": {0: BATCH}, "pixels": {0: BATCH}},
                  str(folder / "dec.onnx"))
    return {"vq_encoder": _initializers(folder / "enc.onnx"), "vq_decoder": _initializers(folder / "dec.onnx")}


def _trace(vq: VQModel, graphs: Dict[str, Dict[str, np.ndarray]]) -> Dict[str, Tuple[str, str]]:
    """parameter name -> (graph, initializer key) holding its values (any shape, same order)."""
    by_values = {}
    for graph, inits in graphs.items():
        for name, value in inits.items():
            by_values.setdefault(value.astype(np.float32).tobytes(), (graph, name))
    found = {}
    for pname, p in vq.state_dict().items():
        if not p.is_floating_point():
            continue
        key = p.detach().numpy().astype(np.float32).tobytes()
        if pname == "quantize.embedding.weight":
            key = vq.quantize.normalized_codebook().detach().numpy().astype(np.float32).tobytes()
        if key in by_values:
            found[pname] = by_values[key]
    return found


def recover(bundle: Path) -> Tuple[VQModel, int]:
    manifest = json.loads((bundle / "manifest.json").read_text())
    cfg, grid = vq_config(manifest), manifest["grid"][0]
    probe = VQModel(cfg).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in probe.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    with tempfile.TemporaryDirectory() as tmp:
        where = _trace(probe, _export(probe, grid, Path(tmp)))
    missing = [n for n, p in probe.named_parameters() if n not in where]
    if missing:
        raise RuntimeError(f"parameters not found in the exported graphs: {missing}")
    trained = {"vq_encoder": _initializers(bundle / "vq_encoder.onnx"),
               "vq_decoder": _initializers(bundle / "vq_decoder.onnx")}
    state = probe.state_dict()
    for pname, (graph, init) in where.items():
        state[pname] = torch.from_numpy(trained[graph][init].copy()).reshape(state[pname].shape)
    vq = VQModel(cfg)
    vq.load_state_dict(state)
    return vq.eval(), grid


def check(vq: VQModel, grid: int, bundle: Path) -> None:
    """Re-exports the recovered VQ: every initializer must equal the bundle's in the same place
    (the codebook to 1e-6: it is stored normalised and normalising it again moves the last bit)."""
    with tempfile.TemporaryDirectory() as tmp:
        again = _export(vq, grid, Path(tmp))
    for graph, inits in again.items():
        shipped = _initializers(bundle / f"{graph}.onnx")
        for name, value in inits.items():
            if name not in shipped or not np.allclose(shipped[name], value, rtol=0, atol=1e-6):
                raise RuntimeError(f"{graph}: initializer {name} differs from the bundle's")


def full_recipe_vq_stages() -> List[str]:
    """The VQ stages of the full recipe (the shipped bundle's): stage A, then its fine-tunes."""
    return ["a"] + [stage for stage, field, _ in FINE_TUNES if getattr(FULL, field) is not None]


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="the vq.pt to write")
    ap.add_argument("--stages", type=Path, help="a JSON file with the stage record to store (vq_stages.py: "
                    "per stage its run, wall_s, cpu_s, config), which the model card needs for its times; "
                    "default: the full recipe's VQ stages, each naming the bundle, without times")
    args = ap.parse_args(argv)
    vq, grid = recover(args.bundle)
    check(vq, grid, args.bundle)
    # Every stage marked done, so that --vq-from does not train a fine-tune a second time.
    stages = (json.loads(args.stages.read_text()) if args.stages
              else {stage: {"run": str(args.bundle.resolve())} for stage in full_recipe_vq_stages()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_vq(args.out, vq, stages)
    print(f"recovered the VQ of {args.bundle} ({sum(p.numel() for p in vq.parameters())} parameters, "
          f"every initializer checked) -> {args.out}")


if __name__ == "__main__":
    main()
