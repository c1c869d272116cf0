"""The model card is a template filled from its run's record: the floors table, colour table,
times and history follow the record."""
import contextlib
import dataclasses
import json
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from toklip_train import model_card
from toklip_train.evaluation import FLOORS, missed
from toklip_train.networks import REPO_ROOT
from toklip_train.recipe import BROAD, MODEL_NAME

BUNDLE = REPO_ROOT / "models" / MODEL_NAME
MANIFEST = json.loads((BUNDLE / "manifest.json").read_text())


def stage(wall: float, cpu: float, **extra) -> dict:
    return {"wall_s": wall, "cpu_s": cpu, **extra}


def report(shape_acc: float = 0.9, drawn_colour: float = 0.97, min_ids: int = 20) -> dict:
    """An evaluate.py report with the figures the card shows."""
    heldout = {"psnr_mean": 27.0, "zero_shot_colour_acc": 0.97, "zero_shot_shape_acc": shape_acc, "i2t_r1": 0.6}
    group = {"psnr_mean": 27.5, "joint_acc": 0.9, "count": 10}
    drawn = {"pictures": 20, "psnr_mean": 27.1, "colour_acc": drawn_colour, "shape_acc": 0.9,
             **{f"by_{k}": {"x": group} for k in ("background", "format", "shape", "colour")}}
    photos = {"photos": 2, "psnr_mean": 18.0, "min_distinct_ids": min_ids,
              "per_photo": {"a": {"psnr": 18.0, "distinct_ids": 30}, "b": {"psnr": 18.0, "distinct_ids": min_ids}}}
    failed = [f"{name}: {m}" for name, floors in FLOORS.items()
              for m in missed({"heldout": heldout, "drawn": drawn, "photos": photos}[name], floors)]
    return {"floors": FLOORS, "bundle": {"heldout": heldout, "heldout_broad": heldout, "drawn": drawn, "photos": photos},
            "checkpoint": {"heldout": heldout, "heldout_broad": heldout}, "missed": failed,
            "bundle_vs_checkpoint": {"ids_identical": 1.0, "embedding_rel_err": 1e-4, "text_embedding_rel_err": 1e-6}}


def record(folder: Path, continues: str = "a3small-s0", **report_kw) -> Path:
    metrics = {"seed": 0, "torch": "1.13", "threads": 2, "token_mlp_max_rel_err": 0.01,
               "config": json.loads(json.dumps(dataclasses.asdict(BROAD), default=str)),
               "vq_stages": {"predecessor": stage(0, 0), "vq_broad": stage(3600, 4800), "vq_shape": stage(600, 1200)},
               "times": {"recover_towers": stage(60, 60), "token_ids": stage(300, 240),
                         "stage_b_contrastive": stage(2400, 4500), "evaluation": stage(40, 60)}}
    card = {"commands": {"evaluate": "EVAL", "train": ["TRAIN"], "export": "EXPORT"}, "change": "CHANGE",
            "load": "LOAD.", "repeatability": "REPEAT",
            "continues": continues}
    folder.mkdir(parents=True, exist_ok=True)
    for name, doc in (("metrics.json", metrics), ("eval.json", report(**report_kw)), ("card.json", card)):
        (folder / name).write_text(json.dumps(doc))
    return folder


class CardTest(unittest.TestCase):
    def render(self, **record_kw) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            return model_card.render(record(Path(tmp) / "r", **record_kw), MANIFEST)

    def with_history(self, versions: list) -> contextlib.AbstractContextManager:
        """model_card.HISTORY replaced by a file holding `versions` (removed with the test's tmp dir)."""
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        path = Path(tmp.name) / "versions.json"
        path.write_text(json.dumps({"versions": versions}))
        return mock.patch.object(model_card, "HISTORY", path)

    def test_floors_met_and_missed(self):
        card = self.render()
        self.assertIn("| held-out scenes | shape, zero-shot | 90.0 % | 90.0 % | met |", card)
        self.assertIn("| natural photos | fewest distinct ids in a photo | 20 | 16 | met |", card)
        self.assertIn("Every floor is met.", card)
        card = self.render(drawn_colour=0.9, min_ids=12)
        self.assertIn("| independent drawn set | colour, zero-shot | 90.0 % | 95.0 % | **missed** |", card)
        self.assertIn("| natural photos | fewest distinct ids in a photo | 12 | 16 | **missed** |", card)
        self.assertIn("**Floors missed:** drawn: colour_acc 0.9000 < 0.95; photos: min_distinct_ids 12.0000 < 16 (tools/train/README.md", card)

    def test_times_sum_the_stages_and_add_the_predecessors(self):
        card = self.render()
        # vq_broad 60 + vq_shape 10 + towers (1 + 5 + 40 + 0.67) min wall; CPU 80 + 20 + 81
        self.assertIn("Time: this recipe 117 min wall, 181 min CPU", card)
        self.assertIn("(182 min wall, 264 min CPU) 299 min wall and 445 min CPU in all. LOAD.", card)
        self.assertIn("**towers** (46.7 min wall, 81.0 min CPU)", card)

    def test_the_history_ends_with_this_model(self):
        card = self.render(shape_acc=0.93)
        self.assertIn("| 9 | + stage A3 on scenes that each hold a small shape, 1200 steps instead of 800 | 91.4 % |", card)
        shipped_before = len(json.loads(model_card.HISTORY.read_text())["versions"])
        self.assertIn(f"| {shipped_before + 1} (this model) | CHANGE | 93.0 % |", card)

    def test_the_predecessor_is_the_version_continued_not_the_last_shipped(self):
        continued = {"run": "old-s0", "commit": "aaaaaaa", "change": "OLD", "heldout_shape_acc": 0.9,
                     "recipe_wall_min": 100, "recipe_cpu_min": 200, "codebook": 1024, "recipe": "OLD RECIPE",
                     "drawn": {"psnr_mean": 15.0, "colour_acc": 0.5, "shape_acc": 0.3},
                     "photos": {"psnr_mean": 16.0, "min_distinct_ids": 8}}
        replaced = {**continued, "run": "new-s1", "commit": "bbbbbbb", "change": "FIRST RUN",
                    "recipe_wall_min": 999, "recipe_cpu_min": 999, "codebook": 4096}
        with self.with_history([continued, replaced]):
            card = self.render(continues="old-s0")
            self.assertIn("This model continues its predecessor (run `old-s0`, the bundle of commit aaaaaaa; OLD RECIPE)", card)
            self.assertIn("(100 min wall, 200 min CPU) 217 min wall and 381 min CPU in all.", card)
            self.assertIn("| 2 | FIRST RUN | 90.0 % |", card)
            self.assertIn("| 3 (this model) | CHANGE |", card)
            with self.assertRaisesRegex(ValueError, "continues run 'gone-s0': 0 versions"):
                self.render(continues="gone-s0")

    def test_a_retired_model_joins_the_history_with_its_report(self):
        with tempfile.TemporaryDirectory() as tmp, self.with_history([{"run": "old-s0"}]):
            rec = record(Path(tmp) / "r", shape_acc=0.876)
            model_card.retire(rec, run="new-s1", commit="ccccccc", recipe="RECIPE")
            history = json.loads(model_card.HISTORY.read_text())["versions"]
            self.assertEqual([v["run"] for v in history], ["old-s0", "new-s1"])
            # vq_broad 60 + vq_shape 10 + towers 46.7 min wall; CPU 80 + 20 + 81
            self.assertEqual(history[1], {
                "change": "CHANGE", "heldout_shape_acc": 0.876, "run": "new-s1", "commit": "ccccccc",
                "recipe_wall_min": 117, "recipe_cpu_min": 181, "codebook": BROAD.model.vq.codebook_size,
                "recipe": "RECIPE", "drawn": {"psnr_mean": 27.1, "colour_acc": 0.97, "shape_acc": 0.9},
                "photos": {"psnr_mean": 18.0, "min_distinct_ids": 20}})
            self.assertEqual((model_card.HISTORY.parent / "new-s1.eval.json").read_text(), (rec / "eval.json").read_text())
            with self.assertRaisesRegex(ValueError, "run 'new-s1' is in"):
                model_card.retire(rec, run="new-s1", commit="ccccccc", recipe="RECIPE")

    def test_colour_ranges_as_written(self):
        rows = {r["word"]: r for r in model_card.colour_ranges()}
        self.assertEqual(rows["red"]["hue"], "345-15° (through 0)")
        self.assertEqual(rows["white"]["hue"], "any")
        self.assertEqual(rows["blue"]["saturation"], "0.6-1")
        self.assertIn("| purple | 265-305° | 0.5-1 | 0.35-0.95 |", self.render())

    def test_the_shipped_card_is_its_record_rendered(self):
        shipped = model_card.render(model_card.SHIPPED_RECORD, MANIFEST)
        self.assertEqual((BUNDLE / model_card.CARD).read_text(), shipped,
                         "regenerate: tools/python -m toklip_train.model_card --record tools/train/model_card/shipped "
                         "--bundle models/toklip-scenes-128")

    def test_the_shipped_grid_is_registered_in_the_manifest(self):
        entry = MANIFEST["files"][model_card.GRID]
        self.assertEqual(entry["size"], (BUNDLE / model_card.GRID).stat().st_size)


if __name__ == "__main__":
    unittest.main()
