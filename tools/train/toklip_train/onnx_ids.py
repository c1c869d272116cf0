"""VQ token ids of many scenes through onnxruntime-node (tools/train/encode_ids.mjs).

Why: PyTorch 1.13's CPU convolutions encode a 128 px scene in about 70 ms on 2 cores,
onnxruntime in a few ms, so stage B can train on several times more scenes for the same time.
The graph is the exporter's own vq_encoder (encoder, then the quantiser against the normalised
codebook), i.e. what the service runs; a few ids can differ from PyTorch's where two codes are
nearly equidistant.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .networks import VQModel
from .node_script import run_node_script
from .scenes import IMAGE_SIZE, Scene

from toklip_export import onnx_export as ox

ENCODE_IDS = Path(__file__).resolve().parents[1] / "encode_ids.mjs"
CHUNK = 4096  # scenes rendered and encoded per node call: 200 MB of uint8 pixels


def export_vq_encoder(vq: VQModel, path: Path) -> None:
    module = nn.Sequential(ox.VQEncoderZ(vq), ox.Quantiser(vq)).eval()
    example = torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    ox.export_module(module, (example,), ["pixels"], ["ids"],
                     {"pixels": {0: ox.BATCH}, "ids": {0: ox.BATCH}}, str(path))


def encode_ids_onnx(vq: VQModel, scenes: Sequence[Scene], *, threads: int = 2,
                    log: Callable[[str], None] = lambda _: None) -> torch.Tensor:
    """(len(scenes), N) int64 ids of the rendered scenes."""
    out = []
    with tempfile.TemporaryDirectory(prefix="toklip-ids-") as tmp:
        work = Path(tmp)
        export_vq_encoder(vq, work / "vq_encoder.onnx")
        for start in range(0, len(scenes), CHUNK):
            chunk = scenes[start:start + CHUNK]
            pixels = np.stack([s.render() for s in chunk])
            pixels.tofile(work / "pixels.u8")
            request = {"graph": str(work / "vq_encoder.onnx"), "threads": threads, "out": str(work / "ids.bin"),
                       "pixels": {"file": str(work / "pixels.u8"), "shape": list(pixels.shape)}}
            run_node_script(ENCODE_IDS, request, work)
            out.append(torch.from_numpy(np.fromfile(work / "ids.bin", dtype=np.int64).reshape(len(chunk), -1)))
            log(f"encoded {start + len(chunk)}/{len(scenes)} scenes to token ids (onnxruntime)")
    return torch.cat(out)
