"""The shipped model's card: a template (tools/train/model_card/MODEL_CARD.md.j2) filled from the
run's files, the recipe history (tools/train/model_card/history/versions.json) and the bundle's manifest.

    tools/python -m toklip_train.model_card --record tools/train/model_card/shipped --bundle models/toklip-scenes-128

The record folder (tools/train/model_card/shipped for the bundle in models/) holds what the card
is made of, committed so that the card regenerates with no diff: metrics.json (the training run's), eval.json (toklip_train.evaluate's report on the bundle)
and card.json (the commands, the change this run adds, the run of the bundle it continues, the machine's
load while it trained, how exactly the commands repeat it).
The card and the grid of reconstructions are bundle files, so they are registered in
manifest.json's `files` (sha256 and size), as the exporter registers its own; the graphs are untouched.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List

import jinja2

from toklip_export.bundle import list_files, write_json

from . import broad_scenes as B
from . import drawn_set as D
from . import pictures as P
from . import scenes as S
from .evaluate import GRID_DRAWN, GRID_PHOTOS
from .evaluation import FLOORS, RETRIEVAL_SCENES, ZERO_SHOT_SCENES, zero_shot_prompts
from .photos import PHOTOS
from .tokenizer import CONTEXT_LENGTH, VOCAB, caption_words

CARD_DIR = Path(__file__).resolve().parents[1] / "model_card"
# The record of the bundle in models/ (replaced when a new model ships; the one before it then
# joins history/versions.json, with its evaluation report beside it).
SHIPPED_RECORD = CARD_DIR / "shipped"
HISTORY = CARD_DIR / "history" / "versions.json"
TEMPLATE = "MODEL_CARD.md.j2"
GRID = "reconstructions.png"
CARD = "MODEL_CARD.md"
# Bundle files that describe the model rather than run it: not counted in the bundle's size.
DESCRIPTIONS = (CARD, GRID)
SETS = {"heldout": "held-out scenes", "drawn": "independent drawn set", "photos": "natural photos"}
METRICS = {"psnr_mean": "PSNR tokenize -> decode, mean", "zero_shot_colour_acc": "colour, zero-shot",
           "zero_shot_shape_acc": "shape, zero-shot", "i2t_r1": "image -> text R@1", "colour_acc": "colour, zero-shot",
           "shape_acc": "shape, zero-shot", "min_distinct_ids": "fewest distinct ids in a photo"}


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def pct0(x: float) -> str:
    return f"{100 * x:.0f} %"


def db(x: float) -> str:
    return f"{x:.2f} dB"


def rgb(value) -> str:
    return "#%02x%02x%02x" % tuple(value)


def _value(metric: str, value: float) -> str:
    if metric.startswith("psnr"):
        return db(value)
    return str(int(value)) if metric == "min_distinct_ids" else pct(value)


def quality_rows(report: dict) -> List[Dict[str, str]]:
    """The floors table: every floored metric of every set, the bundle's value and the verdict."""
    rows = []
    for name, floors in FLOORS.items():
        measured = report["bundle"][name]
        for metric, floor in floors.items():
            rows.append({"set": SETS[name], "metric": METRICS[metric], "value": _value(metric, measured[metric]),
                         "floor": _value(metric, floor), "verdict": "met" if measured[metric] >= floor else "**missed**"})
    return rows


def _range(lo: float, hi: float, unit: str = "") -> str:
    return f"{lo:g}-{hi:g}{unit}"


def colour_ranges() -> List[Dict[str, str]]:
    rows = []
    for word, (hues, sat, val) in B.COLOUR_RANGES.items():
        hue = "any" if hues is None else f"{hues[0]:g}-{hues[1]:g}°" + (" (through 0)" if hues[0] > hues[1] else "")
        rows.append({"word": word, "hue": hue, "saturation": _range(*sat), "value": _range(*val)})
    return rows


def _shares(options) -> str:
    return ", ".join(f"{name} {pct0(share)}" for name, share in options)


def generator_facts() -> dict:
    sizes = ", ".join(f"{word} {pct0(lo)}-{pct0(hi)}" for word, (lo, hi) in B.SIZE_RANGES.items())
    return {
        "counts": "one, two or three (" + ", ".join(f"{n}: {pct0(p)}" for n, p in B.SHAPE_COUNTS) + ")",
        "sizes": sizes.replace(" %-", "-"),
        "outlined": B.OUTLINED_SHARE, "stroke": f"{pct0(B.STROKE_RANGE[0])}-{pct0(B.STROKE_RANGE[1])}".replace(" %-", "-"),
        "hard": B.HARD_EDGE_SHARE,
        "proportions": {k: _range(*v) for k, v in B.PROPORTION_RANGES.items()},
        "backgrounds": _shares(B.BACKGROUND_KINDS).replace("classic", "the classic muted tones"),
        "tones": "near white, near black, a grey or any colour (" + _shares(B.TONE_KINDS) + ")",
        "min_contrast": B.MIN_CONTRAST, "jpeg": B.JPEG_SHARE, "jpeg_quality": _range(*B.JPEG_QUALITY),
    }


def _time(record: dict) -> str:
    return f"{record['wall_s'] / 60:.1f} min wall, {record['cpu_s'] / 60:.1f} min CPU"


def continued_version(history: List[dict], run: str) -> dict:
    """The version whose bundle the record's run continues (not always the last one shipped: a rerun
    of the same recipe replaces the last one and continues what it continued)."""
    found = [v for v in history if v.get("run") == run]
    if len(found) != 1:
        raise ValueError(f"card.json continues run {run!r}: {len(found)} versions of that run in {HISTORY}")
    return found[0]


def recipe_seconds(metrics: dict) -> tuple:
    """Wall and CPU seconds of stage towers, and of the whole recipe (the VQ stages included)."""
    stages, times = metrics["vq_stages"], metrics["times"]
    towers = {k: sum(times[t][k] for t in ("recover_towers", "token_ids", "stage_b_contrastive", "evaluation"))
              for k in ("wall_s", "cpu_s")}
    recipe = {k: stages["vq_broad"][k] + stages["vq_shape"][k] + towers[k] for k in ("wall_s", "cpu_s")}
    return towers, recipe


def retire(record: Path, *, run: str, commit: str, recipe: str) -> dict:
    """Appends the model of `record` (the one about to be replaced in models/) to the version
    history, with its figures and recipe time, and keeps its evaluation report beside it."""
    metrics = json.loads((record / "metrics.json").read_text())
    report = json.loads((record / "eval.json").read_text())
    card = json.loads((record / "card.json").read_text())
    history = json.loads(HISTORY.read_text())
    if any(v.get("run") == run for v in history["versions"]):
        raise ValueError(f"run {run!r} is in {HISTORY} already")
    _, seconds = recipe_seconds(metrics)
    drawn, photos = report["bundle"]["drawn"], report["bundle"]["photos"]
    version = {
        "change": card["change"], "heldout_shape_acc": report["bundle"]["heldout"]["zero_shot_shape_acc"],
        "run": run, "commit": commit,
        "recipe_wall_min": round(seconds["wall_s"] / 60), "recipe_cpu_min": round(seconds["cpu_s"] / 60),
        "codebook": metrics["config"]["model"]["vq"]["codebook_size"], "recipe": recipe,
        "drawn": {"psnr_mean": round(drawn["psnr_mean"], 2), "colour_acc": round(drawn["colour_acc"], 3),
                  "shape_acc": round(drawn["shape_acc"], 3)},
        "photos": {"psnr_mean": round(photos["psnr_mean"], 2), "min_distinct_ids": photos["min_distinct_ids"]},
    }
    history["versions"].append(version)
    (HISTORY.parent / f"{run}.eval.json").write_text((record / "eval.json").read_text())
    HISTORY.write_text(json.dumps(history, indent=2) + "\n")
    return version


def context(record: Path, manifest: dict) -> dict:
    """Everything the template shows, from the record folder, the history and the manifest."""
    metrics = json.loads((record / "metrics.json").read_text())
    report = json.loads((record / "eval.json").read_text())
    card = json.loads((record / "card.json").read_text())
    history = json.loads(HISTORY.read_text())["versions"]
    predecessor = continued_version(history, card["continues"])
    stages, times = metrics["vq_stages"], metrics["times"]
    towers_s, recipe_s = recipe_seconds(metrics)
    total_min = {k: recipe_s[k] / 60 + predecessor[f"recipe_{k[:-2]}_min"] for k in ("wall_s", "cpu_s")}
    arch = manifest["architecture"]
    graphs = {k: v for k, v in manifest["files"].items() if k not in DESCRIPTIONS}
    return {
        "name": manifest["name"], "grid_png": GRID, "grid_side": manifest["grid"][0], "commands": card["commands"], "change": card["change"], "load": card["load"],
        "repeatability": card["repeatability"],
        "quality": quality_rows(report), "missed": report["missed"], "drawn": report["bundle"]["drawn"],
        "photos": report["bundle"]["photos"], "heldout": report["bundle"]["heldout"],
        "checkpoint": report["checkpoint"],
        "agreement": {**report["bundle_vs_checkpoint"], "images": RETRIEVAL_SCENES + ZERO_SHOT_SCENES},
        "grid_drawn": GRID_DRAWN, "grid_photos": GRID_PHOTOS,
        "predecessor": {**predecessor, "drawn": predecessor["drawn"], "photos": predecessor["photos"]},
        "drawn_spec": {"shapes": D.SHAPES, "backgrounds": D.BACKGROUNDS, "min_distance": D.MIN_DISTANCE,
                       "jpeg_quality": D.JPEG_QUALITY, "colours": D.COLOURS},
        "prompts": len(zero_shot_prompts()), "photo_files": PHOTOS, "held_out_per_pair": S.HELD_OUT_PER_PAIR,
        "retrieval_scenes": RETRIEVAL_SCENES, "zero_shot_scenes": ZERO_SHOT_SCENES,
        "shapes": S.SHAPES, "colours": list(S.COLOURS), "classic_tones": len(S.BACKGROUND_PALETTE),
        "broad": generator_facts(), "colour_ranges": colour_ranges(),
        "pictures": {"kinds": _shares(P.KINDS).replace("_", " "), "grey": P.GREY_SHARE, "jpeg": P.JPEG_SHARE},
        "image_size": manifest["image_size"], "vq": arch["vq"], "vision": arch["vision"], "text": arch["text"],
        "num_tokens": manifest["num_tokens"], "patch": manifest["patch_size"], "codebook": manifest["codebook"],
        "embedding_dim": manifest["embedding_dim"], "logit_scale": f"{manifest['logit_scale']:g}",
        "bundle_mb": f"{sum(f['size'] for f in graphs.values()) / 1e6:.1f}", "dtype": manifest["dtype"],
        "vocab": VOCAB, "words": caption_words(), "context": CONTEXT_LENGTH,
        "token_mlp_err": metrics["token_mlp_max_rel_err"], "seed": metrics["seed"], "torch": metrics["torch"],
        "threads": metrics["threads"], "c": metrics["config"],
        "stages": {"vq_broad": {"time": _time(stages["vq_broad"])}, "vq_shape": {"time": _time(stages["vq_shape"])},
                   "towers": {"time": _time(towers_s)}, "ids": {"time": _time(times["token_ids"])}},
        "recipe": {"wall_min": f"{recipe_s['wall_s'] / 60:.0f}", "cpu_min": f"{recipe_s['cpu_s'] / 60:.0f}"},
        "total": {"wall_min": f"{total_min['wall_s']:.0f}", "cpu_min": f"{total_min['cpu_s']:.0f}",
                  "cpu_h": f"{total_min['cpu_s'] / 60:.0f}"},
        "history": history,
    }


def render(record: Path, manifest: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(CARD_DIR)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True)
    env.filters.update(pct=pct, pct0=pct0, db=db, rgb=rgb)
    return env.get_template(TEMPLATE).render(**context(record, manifest))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--record", required=True, help="the run's record folder (metrics.json, eval.json, card.json)")
    p.add_argument("--bundle", help="the bundle whose card to write (with --record)")
    p.add_argument("--retire", metavar="RUN", help="instead: append the record's model, run RUN, to the version "
                   "history before a new model replaces it (with --commit and --recipe)")
    p.add_argument("--commit", help="with --retire: the commit that shipped RUN")
    p.add_argument("--recipe", help="with --retire: where its recipe is described")
    args = p.parse_args(argv)
    if args.retire:
        if not (args.commit and args.recipe):
            p.error("--retire needs --commit and --recipe")
        version = retire(Path(args.record), run=args.retire, commit=args.commit, recipe=args.recipe)
        print(f"appended run {version['run']} to {HISTORY}")
        return 0
    if not args.bundle:
        p.error("--bundle is required to write a card")
    bundle = Path(args.bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / CARD).write_text(render(Path(args.record), manifest))
    manifest["files"] = list_files(str(bundle))  # the exporter's own listing, now with the card and the grid
    write_json(str(bundle / "manifest.json"), manifest)
    print(f"wrote {bundle / CARD} and registered it in {bundle / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
