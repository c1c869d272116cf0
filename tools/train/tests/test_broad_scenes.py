"""The broad generator keeps the classic grammar and held-out split while drawing shapes of any
size, anywhere, filled or outlined, on any background; the uncaptioned pictures are deterministic."""
import ast
import unittest
from pathlib import Path

import numpy as np

from toklip_train import broad_scenes as B
from toklip_train import drawn_set as D
from toklip_train import scenes as S
from toklip_train.captions import describes, format_caption, parse_caption
from toklip_train.pictures import KINDS, picture
from toklip_train.tokenizer import VOCAB, encode

SCENES = [B.broad_scene("train", i, 0) for i in range(600)]
HELD = [B.broad_scene("heldout", i, 0) for i in range(300)]


class BroadSceneTest(unittest.TestCase):
    def test_deterministic_and_apart_from_the_classic_stream(self):
        a, b = B.broad_scene("train", 5, 0), B.broad_scene("train", 5, 0)
        self.assertEqual(a, b)
        np.testing.assert_array_equal(a.render(), b.render())
        self.assertNotEqual(a.shapes, S.scene("train", 5, 0).shapes)
        self.assertNotEqual(a, B.broad_scene("train", 5, 1))

    def test_the_classic_held_out_split(self):
        for sc in SCENES:
            self.assertFalse(any(s.attributes in S.HELD_OUT_TUPLES for s in sc.shapes), sc.index)
        for sc in HELD:
            self.assertIn(sc.shapes[0].attributes, S.HELD_OUT_TUPLES)

    def test_size_and_position_words_name_the_geometry(self):
        for sc in SCENES + HELD:
            for s in sc.shapes:
                lo, hi = B.SIZE_RANGES[s.size]
                self.assertTrue(lo <= 2 * s.radius / S.IMAGE_SIZE <= hi, s)
                row, col = divmod(S.POSITIONS.index(s.position), 3)
                self.assertEqual((int(s.cy // B.THIRD), int(s.cx // B.THIRD)), (row, col), s)
                self.assertTrue(s.radius - 1e-6 <= s.cx <= S.IMAGE_SIZE - s.radius + 1e-6, s)  # inside the frame
                self.assertTrue(s.radius - 1e-6 <= s.cy <= S.IMAGE_SIZE - s.radius + 1e-6, s)

    def test_the_variations_occur(self):
        shapes = [s for sc in SCENES for s in sc.shapes]
        extents = [2 * s.radius / S.IMAGE_SIZE for s in shapes]
        self.assertLess(min(extents), 0.1)
        self.assertGreater(max(extents), 0.8)
        self.assertEqual({len(sc.shapes) for sc in SCENES}, {1, 2, 3})
        outlined = [s for s in shapes if s.outlined]
        self.assertTrue(0.1 < len(outlined) / len(shapes) < 0.25)
        self.assertNotIn("ring", {s.shape for s in outlined})
        self.assertTrue(any(not s.antialias for s in shapes))
        self.assertTrue(0.15 < np.mean([sc.jpeg_quality > 0 for sc in SCENES]) < 0.35)
        plain = [sc.background.colour_a for sc in SCENES if sc.background.kind == "plain"]
        self.assertTrue(any(min(c) > 0.92 for c in plain))  # near white
        self.assertTrue(any(max(c) < 0.1 for c in plain))  # near black

    def test_every_shape_stands_out_from_its_background_and_is_drawn(self):
        for sc in SCENES[:100]:
            for s in sc.shapes:
                self.assertTrue(B._contrasts(s.rgb, sc.background), s)
                self.assertGreater(S.shape_mask(s).sum(), 1.0, s)

    def test_colours_lie_in_their_words_range(self):
        rng = np.random.default_rng(0)
        for word in B.COLOUR_RANGES:
            for _ in range(50):
                # drawn colours are rounded to whole RGB levels: a hue can move by about a degree
                self.assertTrue(B.names_colour(word, B.colour_rgb(word, rng), slack=0.005), word)
        for word, rgb in S.COLOURS.items():  # the classic colours
            self.assertTrue(B.names_colour(word, rgb), word)
        for word, values in D.COLOURS.items():  # the drawn test set's
            for rgb in values:
                self.assertTrue(B.names_colour(word, rgb), (word, rgb))
        self.assertFalse(B.names_colour("red", (255, 128, 0)))  # orange is no red
        self.assertFalse(B.names_colour("white", (128, 128, 128)))

    def test_captions_parse_fit_the_context_and_describe_their_scene(self):
        rng = np.random.default_rng(0)
        for sc in SCENES:
            caption = sc.caption
            self.assertEqual(format_caption(parse_caption(caption)), caption)
            self.assertTrue(describes(parse_caption(caption), sc))
            self.assertTrue(describes(parse_caption(sc.caption_variant(rng)), sc))
            self.assertLess(encode(caption).index(1), len(encode(caption)))  # EOS kept: no truncation
            self.assertNotIn(3, encode(caption))  # no <unk>
            if len(sc.shapes) == 3:
                self.assertFalse(any(p in caption for p in S.POSITIONS))

    def test_outlined_is_stated_and_matters(self):
        sc = next(sc for sc in SCENES if len(sc.shapes) == 1 and sc.shapes[0].outlined)
        s = sc.shapes[0]
        self.assertIn(f"{s.colour} outlined {s.shape}", sc.caption)
        self.assertFalse(describes(parse_caption(f"a {s.colour} {s.shape}"), sc))
        self.assertIn("outlined", VOCAB)


class PicturesTest(unittest.TestCase):
    def test_deterministic_every_kind_uncaptioned(self):
        a, b = picture(3, 0), picture(3, 0)
        np.testing.assert_array_equal(a.render(), b.render())
        self.assertEqual(a.render().shape, (S.IMAGE_SIZE, S.IMAGE_SIZE, 3))
        self.assertEqual(a.shapes, ())
        kinds = {picture(i, 0).kind for i in range(200)}
        self.assertEqual(kinds, {k for k, _ in KINDS})
        self.assertFalse(np.array_equal(picture(3, 0).render(), picture(3, 1).render()))


class DrawnSetTest(unittest.TestCase):
    ITEMS = D.drawn_set()

    def test_independent_of_the_training_code(self):
        tree = ast.parse(Path(D.__file__).read_text())
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        self.assertEqual({m.split(".")[0] for m in imported} - {"__future__"}, {"io", "math", "random", "dataclasses",
                                                                                 "typing", "PIL"})

    def test_every_combination_in_both_formats(self):
        self.assertEqual(len({(i.shape, i.colour) for i in self.ITEMS}), 40)
        self.assertEqual({i.background for i in self.ITEMS}, set(D.BACKGROUNDS))
        pngs = {i.name[:-4] for i in self.ITEMS if i.format == "png"}
        jpegs = {i.name[:-5] for i in self.ITEMS if i.format == "jpeg"}
        self.assertEqual(pngs, jpegs)
        self.assertTrue(all(0.3 <= i.extent <= 0.9 for i in self.ITEMS))
        self.assertTrue(any(i.centred for i in self.ITEMS) and not all(i.centred for i in self.ITEMS))
        self.assertNotIn("white-circle-white.png", {i.name for i in self.ITEMS})  # too close to its background

    def test_the_shape_is_drawn_in_its_colour(self):
        item = next(i for i in self.ITEMS if i.name == "red-circle-white.png")
        pixels = np.asarray(item.image()).reshape(-1, 3).astype(int)
        reds = (pixels[:, 0] > 150) & (pixels[:, 1] < 80) & (pixels[:, 2] < 100)
        self.assertGreater(reds.mean(), 0.3 ** 2 * np.pi / 4 * 0.8)


if __name__ == "__main__":
    unittest.main()
