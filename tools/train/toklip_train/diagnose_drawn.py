"""Where a VQ loses PSNR on the independent drawn set (the PNG copies): three measurements.

    tools/python -m toklip_train.diagnose_drawn --vq RUN/STAGE/vq.pt [--json OUT]

1. PSNR through ids -> decode (the served path) and through the decoder without the quantiser
   (the l2-normalised encoder output): how much the codebook costs, against the encoder/decoder.
2. The squared error split between edges (within EDGE_PX of the shape's outline), the flat
   background and the flat inside of the shape, with the PSNR of each region, by shape colour
   and by background: blurred outlines, or colours that are off.
3. The same pictures blurred by Gaussians of growing radius (PIL), no model involved: how blurred
   a reconstruction may be and still reach a PSNR, for scale.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F
from PIL import ImageFilter

from toklip_export.vq import VQModel, l2_normalize

from . import drawn_set as D
from .data import psnr, to_pixels, to_uint8
from .recipe import BROAD
from .vq_stages import load_vq

EDGE_PX = 3
BLUR_SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0)
# A pixel belongs to the shape when its RGB distance (sum of absolute differences) to the
# background, read at the corner the set never draws on at 30 % extent or more, exceeds this.
SHAPE_THRESHOLD = 30.0


def _db(mse: float) -> float:
    return float(10.0 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    """Binary dilation by a (2px+1)-square, through max pooling."""
    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    return F.max_pool2d(t, 2 * px + 1, stride=1, padding=px)[0, 0].numpy() > 0


def regions(picture: np.ndarray) -> Dict[str, np.ndarray]:
    """Masks of the edge band, the flat background and the flat inside of the one shape."""
    shape = np.abs(picture.astype(np.float64) - picture[0, 0]).sum(-1) > SHAPE_THRESHOLD
    edge = _grow(shape, EDGE_PX) & _grow(~shape, EDGE_PX)
    return {"edge": edge, "background": ~shape & ~edge, "inside": shape & ~edge}


@torch.no_grad()
def reconstructions(vq: VQModel, x: torch.Tensor, grid: int, batch: int = 32) -> Dict[str, np.ndarray]:
    served, continuous = [], []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        _, ids = vq.encode(xb)
        served.append(vq.decode_ids(ids, grid))
        z = vq.encode_z(xb)
        b, c, h, w = z.shape
        flat = l2_normalize(z.permute(0, 2, 3, 1).reshape(-1, c), dim=-1)
        continuous.append(vq.decode(flat.reshape(b, h, w, c).permute(0, 3, 1, 2)))
    return {"served": to_uint8(torch.cat(served)), "continuous": to_uint8(torch.cat(continuous))}


def _means(groups: Dict[str, List[float]]) -> Dict[str, float]:
    return {k: round(float(np.mean(v)), 2) for k, v in sorted(groups.items())}


def diagnose(vq: VQModel, grid: int) -> dict:
    items = [item for item in D.drawn_set() if item.format == "png"]
    pictures = [np.asarray(item.image()) for item in items]
    rec = reconstructions(vq, to_pixels(pictures), grid)
    share = defaultdict(float)
    region_db: Dict[str, List[float]] = defaultdict(list)
    inside_by_colour: Dict[str, List[float]] = defaultdict(list)
    background_by_background: Dict[str, List[float]] = defaultdict(list)
    for item, picture, out in zip(items, pictures, rec["served"]):
        error = ((out.astype(np.float64) - picture) ** 2).mean(-1)
        masks = regions(picture)
        for name, mask in masks.items():
            share[name] += error[mask].sum() / error.sum() / len(items)
            if mask.any():
                region_db[name].append(_db(error[mask].mean()))
        if masks["inside"].any():
            inside_by_colour[item.colour].append(_db(error[masks["inside"]].mean()))
        background_by_background[item.background].append(_db(error[masks["background"]].mean()))
    reference = np.stack(pictures)
    blurred = {f"sigma {s:g} px": float(psnr(reference, np.stack(
        [np.asarray(item.image().filter(ImageFilter.GaussianBlur(s))) for item in items])).mean()) for s in BLUR_SIGMAS}
    return {
        "pictures": len(items),
        "psnr_served": float(psnr(reference, rec["served"]).mean()),
        "psnr_without_quantiser": float(psnr(reference, rec["continuous"]).mean()),
        "error_share": {k: round(v, 3) for k, v in share.items()},
        "region_psnr": _means(region_db),
        "inside_psnr_by_colour": _means(inside_by_colour),
        "background_psnr_by_background": _means(background_by_background),
        "blur_psnr": {k: round(v, 2) for k, v in blurred.items()},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vq", required=True, help="a VQ stage's vq.pt (the continuation recipe's architecture)")
    p.add_argument("--json", help="also write the report here")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    vq = VQModel(BROAD.model.vq)
    vq.load_state_dict(load_vq(Path(args.vq))["state_dict"])
    report = diagnose(vq.eval(), D.SIZE // BROAD.model.vq.downsample_factor)
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
