"""Writes the held-out scenes that the service tests use (test/fixtures/scenes/):
a held-out red circle (for "a red circle" vs every other colour/shape prompt) and eight held-out
scenes (for the reconstruction floor), as PNGs plus scenes.json with their captions.

    tools/python -m toklip_train.make_test_scenes [--out test/fixtures/scenes]

Everything is regenerable from the seeded generator; tools/train/tests checks that the committed
files equal what this script writes.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path


from . import scenes as S
from .evaluation import EVAL_SEED, ZERO_SHOT_START
from .networks import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "test" / "fixtures" / "scenes"
RECONSTRUCTION_SCENES = 8


def png_bytes(scene: S.Scene) -> bytes:
    buf = io.BytesIO()
    scene.image().save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def first_red_circle() -> tuple:
    i = ZERO_SHOT_START
    while True:
        sc = S.scene("heldout", i, EVAL_SEED, num_shapes=1)
        if (sc.shapes[0].colour, sc.shapes[0].shape) == ("red", "circle"):
            return i, sc
        i += 1


def fixtures() -> dict:
    """file name -> (bytes, description)."""
    files = {}
    idx, red = first_red_circle()
    files["red-circle.png"] = (png_bytes(red), {"split": "heldout", "index": idx, "seed": EVAL_SEED,
                                                "num_shapes": 1, "caption": red.caption})
    for i in range(RECONSTRUCTION_SCENES):
        sc = S.scene("heldout", i, EVAL_SEED)
        files[f"heldout-{i}.png"] = (png_bytes(sc), {"split": "heldout", "index": i, "seed": EVAL_SEED,
                                                     "num_shapes": len(sc.shapes), "caption": sc.caption})
    return files


def index_json(files: dict) -> str:
    doc = {
        "generator": "tools/python -m toklip_train.make_test_scenes (tools/train/toklip_train/scenes.py)",
        "image_size": S.IMAGE_SIZE,
        "colours": list(S.COLOURS),
        "shapes": list(S.SHAPES),
        "red_circle": "red-circle.png",
        "reconstruction": [f"heldout-{i}.png" for i in range(RECONSTRUCTION_SCENES)],
        "scenes": {name: meta for name, (_, meta) in files.items()},
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
    (out / "scenes.json").write_text(index_json(files))
    print(f"wrote {len(files)} scenes to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
