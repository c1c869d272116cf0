"""golden/: deterministic inputs and the PyTorch outputs of the exporter's own modules, so
that tests can check the ONNX graphs from Node (docs/bundle-format.md, section golden/)."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from .jsonfmt import write_json
from .model import TokLIP
from .tokenizer import TextSettings, encode_texts

NUM_IMAGES = 3
# Already canonical (lower case, no punctuation), so the service's cleaning leaves them as they are.
TEXTS = ("a photo of a cat", "a diagram with red and blue stripes", "a dog")
TOLERANCES = {"features": 1e-4, "embedding": 1e-4, "prefix_embedding": 1e-4,
              "text_embedding": 1e-4, "reconstruction": 1e-3}
# float16 bundles: share of identical ids and the least cosine similarity per row.
FLOAT16_CRITERIA = {"ids_identical": 0.99, "cosine": 0.999}
# Tokens whose best and second-best codes are closer than this (squared distance between unit
# vectors, range 0..4) are near-ties: float32 rounding differences between two correct
# runtimes (about 1e-6 here) may pick either code, so parity does not require them to match.
NEAR_TIE_MARGIN = 1e-5


def golden_images(size: int) -> List[np.ndarray]:
    """Three deterministic RGB uint8 images (size x size) with smooth regions, edges and texture."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / max(size - 1, 1)
    gradient = np.stack([x, y, 1.0 - 0.5 * (x + y)], axis=-1)
    disc = ((x - 0.6) ** 2 + (y - 0.4) ** 2) < 0.08
    gradient[disc] = (0.9, 0.2, 0.1)
    stripes = np.stack([(np.sin(x * 25) > 0) * 0.8 + 0.1, 0.5 + 0.4 * np.cos(y * 9),
                        (np.sin((x + y) * 14) > 0) * 0.7 + 0.2], axis=-1)
    rng = np.random.default_rng(1234)
    noise = rng.random((size // 4 + 1, size // 4 + 1, 3))
    texture = np.kron(noise, np.ones((4, 4, 1)))[:size, :size] * 0.6 + 0.2 * gradient
    return [np.clip(np.rint(img * 255), 0, 255).astype(np.uint8) for img in (gradient, stripes, texture)]


def pixels_from_images(images: Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 HWC images -> (B,3,R,R) float32 in [-1,1]: (x/255 - 0.5)/0.5."""
    arr = np.stack(images).astype(np.float32) / 255.0
    return torch.from_numpy((arr - 0.5) / 0.5).permute(0, 3, 1, 2).contiguous()


def synthetic_text_ids(vocab_size: int, settings: TextSettings, count: int = 3) -> np.ndarray:
    """Token ids laid out as the tokenizer would (tokens, eos, pads) when no tokenizer is given."""
    rng = np.random.default_rng(99)
    reserved = 1 + max(settings.pad_id, settings.eos_id, settings.bos_id)
    seqs = [list(rng.integers(reserved, vocab_size, size=n)) for n in (3, 7, settings.context_length + 5)]
    return settings.layout([[int(t) for t in s] for s in seqs[:count]])


def _write_array(folder: str, name: str, array: np.ndarray) -> dict:
    array = np.ascontiguousarray(array)
    dtype = {np.dtype("float32"): "float32", np.dtype("int64"): "int64"}[array.dtype]
    with open(os.path.join(folder, f"{name}.bin"), "wb") as f:
        f.write(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    return {"file": f"{name}.bin", "dtype": dtype, "shape": list(array.shape)}


@torch.no_grad()
def id_margins(model: TokLIP, z: torch.Tensor) -> np.ndarray:
    """Per token of z (the quantiser input), the distance gap between the best and the
    second-best code: ids whose gap is at float32 rounding level (about 1e-6) may
    legitimately differ between runtimes."""
    vq = model.vq
    b, c = z.shape[:2]
    flat = torch.nn.functional.normalize(z.permute(0, 2, 3, 1).reshape(b, -1, c), dim=-1)
    codebook = vq.quantize.normalized_codebook()
    d = torch.cdist(flat.double(), codebook.double()[None].expand(b, -1, -1)) ** 2
    two = d.topk(2, dim=-1, largest=False).values
    return (two[..., 1] - two[..., 0]).numpy()


@torch.no_grad()
def write_golden(model: TokLIP, folder: str, *, dtype: str = "float32",
                 text_settings: Optional[TextSettings] = None,
                 tokenizer_path: Optional[str] = None) -> Dict:
    """Runs the PyTorch modules (float32) on the golden inputs and writes golden/."""
    cfg = model.config
    os.makedirs(folder, exist_ok=True)
    images = golden_images(cfg.image_size)
    names = []
    for i, img in enumerate(images):
        names.append(f"image_{i}.png")
        Image.fromarray(img, "RGB").save(os.path.join(folder, names[-1]))
    pixels = pixels_from_images(images)
    arrays = {"pixels": _write_array(folder, "pixels", pixels.numpy())}
    z = model.vq.encode_z(pixels)
    ids = model.vq.quantize.ids(z)
    arrays["ids"] = _write_array(folder, "ids", ids.numpy())
    features, embedding = model.trunk.encode_ids(ids)
    arrays["features"] = _write_array(folder, "features", features.numpy())
    arrays["embedding"] = _write_array(folder, "embedding", embedding.numpy())
    # Raster-order prefix: the semantic encoder's dynamic `tokens` axis.
    prefix = max(1, cfg.num_tokens // 2)
    _, prefix_embedding = model.trunk.encode_ids(ids[:, :prefix])
    arrays["prefix_embedding"] = _write_array(folder, "prefix_embedding", prefix_embedding.numpy())
    arrays["reconstruction"] = _write_array(folder, "reconstruction",
                                            model.vq.decode_ids(ids, cfg.grid).numpy())
    texts = None
    if model.text is not None:
        settings = text_settings or TextSettings.defaults(cfg.text.context_length)
        if tokenizer_path:
            texts = list(TEXTS)
            text_ids = encode_texts(tokenizer_path, texts, settings)
        else:
            text_ids = synthetic_text_ids(cfg.text.vocab_size, settings)
        arrays["text_input_ids"] = _write_array(folder, "text_input_ids", text_ids)
        text_embedding = model.text(torch.from_numpy(text_ids))
        arrays["text_embedding"] = _write_array(folder, "text_embedding", text_embedding.numpy())
    margins = id_margins(model, z)
    manifest = {
        "images": names,
        "arrays": arrays,
        "texts": texts,
        "prefix_tokens": prefix,
        "ids_min_margin": float(margins.min()),
        "near_tie_margin": NEAR_TIE_MARGIN,
        "near_ties": [[int(i), int(t)] for i, t in zip(*np.nonzero(margins < NEAR_TIE_MARGIN))],
        "tolerances": dict(TOLERANCES),
        "tolerance_rule": "max |onnx - golden| <= tolerance * max |golden| per array; ids identical",
        "float16_criteria": dict(FLOAT16_CRITERIA) if dtype == "float16" else None,
        "reference": "float32 PyTorch modules of tools/export (toklip_export)",
    }
    write_json(os.path.join(folder, "manifest.json"), manifest)
    return manifest
