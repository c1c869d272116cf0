"""Writes the independent drawn pictures that the service tests use (test/fixtures/drawn/): a large
red circle on white, as PNG and as JPEG (for "a red circle" against every other colour and shape
caption), and the drawn set's pictures of the model card's grid (for the reconstruction floor),
plus drawn.json describing them.

    tools/python -m toklip_train.make_drawn_fixtures [--out test/fixtures/drawn]

Everything comes from drawn_set.py (plain PIL calls, its own seed); tools/train/tests checks that
the committed files equal what this writes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, Tuple

from . import drawn_set as D
from .evaluate import GRID_DRAWN
from .networks import REPO_ROOT
from .scenes import COLOURS, SHAPES

DEFAULT_OUT = REPO_ROOT / "test" / "fixtures" / "drawn"
RED_CIRCLE = {"colour": "red", "shape": "circle", "background": "white", "extent": 0.7, "centred": True,
              "antialiased": True}


def fixtures() -> Dict[str, Tuple[bytes, dict]]:
    """file name -> (bytes, description)."""
    files = {}
    c = D.SIZE / 2
    red = D.draw("circle", (255, 0, 0), D.FIXED_BACKGROUNDS["white"], RED_CIRCLE["extent"], c, c, antialiased=True)
    for fmt in ("png", "jpeg"):
        files[f"red-circle-white-large.{fmt}"] = (D.encode(red, fmt), {**RED_CIRCLE, "format": fmt})
    by_name = {item.name: item for item in D.drawn_set()}
    for name in GRID_DRAWN:
        item = by_name[name]
        files[name] = (item.data, {"colour": item.colour, "shape": item.shape, "background": item.background,
                                   "extent": round(item.extent, 4), "centred": item.centred,
                                   "antialiased": item.antialiased, "format": item.format})
    return files


def index_json(files: Dict[str, Tuple[bytes, dict]]) -> str:
    doc = {
        "generator": "tools/python -m toklip_train.make_drawn_fixtures (tools/train/toklip_train/drawn_set.py)",
        "colours": list(COLOURS),
        "shapes": list(SHAPES),
        "red_circle": [name for name in files if name.startswith("red-circle-white-large.")],
        "reconstruction": list(GRID_DRAWN),
        "pictures": {name: meta for name, (_, meta) in files.items()},
    }
    return json.dumps(doc, indent=2) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = fixtures()
    for name, (data, _) in files.items():
        (out / name).write_bytes(data)
    (out / "drawn.json").write_text(index_json(files))
    print(f"wrote {len(files)} pictures to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
