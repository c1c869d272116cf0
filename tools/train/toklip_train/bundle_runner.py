"""An exported bundle run as the service runs it (onnxruntime-node on CPU, tokenizers.js), through
tools/train/run_bundle.mjs: token ids, embeddings and reconstructions of images, embeddings of texts."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Dict, Sequence

import numpy as np

from .node_script import run_node_script

RUN_BUNDLE = Path(__file__).resolve().parents[1] / "run_bundle.mjs"


def run_bundle(bundle: Path, pixels: np.ndarray, texts: Sequence[str] = (), threads: int = 2) -> Dict[str, np.ndarray]:
    """pixels: float32 (B, 3, R, R) in [-1, 1]. -> ids (B, N), embedding (B, D), reconstruction
    (B, 3, R, R) raw decoder output, and with texts text_input_ids (T, L), text_embedding (T, D)."""
    with tempfile.TemporaryDirectory(prefix="toklip-eval-") as tmp:
        work = Path(tmp)
        (work / "pixels.bin").write_bytes(np.ascontiguousarray(pixels, np.float32).tobytes())
        request = {"bundle": str(Path(bundle).resolve()), "texts": list(texts), "out": str(work / "out"),
                   "pixels": {"file": str(work / "pixels.bin"), "shape": list(pixels.shape)}, "threads": threads}
        shapes = json.loads(run_node_script(RUN_BUNDLE, request, work))
        dtypes = {"ids": np.int64, "embedding": np.float32, "reconstruction": np.float32,
                  "text_input_ids": np.int64, "text_embedding": np.float32}
        return {name: np.fromfile(work / "out" / f"{name}.bin", dtype=dtypes[name]).reshape(shape)
                for name, shape in shapes.items()}
