import hashlib
import unittest

import numpy as np

from toklip_train import scenes as S
from toklip_train.tokenizer import VOCAB


class DeterminismTest(unittest.TestCase):
    def test_same_index_same_scene(self):
        for split in S.SPLITS:
            for i in (0, 7, 12345):
                a, b = S.scene(split, i, 0), S.scene(split, i, 0)
                self.assertEqual(a, b)
                np.testing.assert_array_equal(a.render(), b.render())

    def test_seed_and_split_change_the_scene(self):
        base = S.scene("train", 3, 0)
        self.assertNotEqual(base, S.scene("train", 3, 1))
        self.assertNotEqual(base.shapes, S.scene("heldout", 3, 0).shapes)

    def test_captions_are_pinned(self):
        # The generator defines the dataset: a change here silently changes every trained model.
        captions = "\n".join(S.scene("train", i, 0).caption for i in range(200))
        captions += "\n".join(S.scene("heldout", i, 0).caption for i in range(200))
        self.assertEqual(hashlib.sha256(captions.encode()).hexdigest()[:16], PINNED_CAPTIONS)

    def test_geometry_is_pinned(self):
        # Stage B's optional wider jitter must leave the default scenes (the VQ's, the held-out sets) as they were.
        geometry = "\n".join(repr([(round(s.cx, 6), round(s.cy, 6), round(s.radius, 6)) for s in S.scene(split, i, 0).shapes])
                             for split in ("train", "heldout") for i in range(200))
        self.assertEqual(hashlib.sha256(geometry.encode()).hexdigest()[:16], PINNED_GEOMETRY)

    def test_render_is_uint8_rgb(self):
        img = S.scene("train", 0, 0).render()
        self.assertEqual(img.shape, (S.IMAGE_SIZE, S.IMAGE_SIZE, 3))
        self.assertEqual(img.dtype, np.uint8)


class PositionJitterTest(unittest.TestCase):
    SCENES = 600

    @staticmethod
    def cell_centre(shape):
        row, col = divmod(S.POSITIONS.index(shape.position), 3)
        return S.GRID_CENTRES[col], S.GRID_CENTRES[row]

    def offsets_by_column(self, jitter):
        """Per grid column, the 2 px bins of a shape's centre offset to the 16 px token grid that occur."""
        seen = {c: set() for c in S.GRID_CENTRES}
        for i in range(self.SCENES):
            for shape in S.scene("train", i, 0, num_shapes=1, position_jitter=jitter).shapes:
                seen[self.cell_centre(shape)[0]].add(int(shape.cx % 16) // 2)
        return seen

    def test_the_default_jitter_ties_each_column_to_a_few_offsets(self):
        for column, bins in self.offsets_by_column(S.POSITION_JITTER).items():
            self.assertLessEqual(len(bins), 5, column)

    def test_the_wide_jitter_reaches_every_offset_in_every_column(self):
        for column, bins in self.offsets_by_column(S.WIDE_POSITION_JITTER).items():
            self.assertEqual(bins, set(range(8)), column)

    def test_wide_jitter_keeps_cells_captions_and_the_image_bounds(self):
        for i in range(self.SCENES):
            narrow = S.scene("train", i, 0, num_shapes=1)
            wide = S.scene("train", i, 0, num_shapes=1, position_jitter=S.WIDE_POSITION_JITTER)
            self.assertEqual(wide.caption, narrow.caption)
            (a,), (b,) = narrow.shapes, wide.shapes
            self.assertEqual((a.radius, a.rgb), (b.radius, b.rgb))
            centre = self.cell_centre(b)
            for pos, c in zip((b.cx, b.cy), centre):
                self.assertLessEqual(abs(pos - c), S.WIDE_POSITION_JITTER + 1e-9)
                # inside the image, or no further out than the default jitter allows
                self.assertGreaterEqual(pos - b.radius, min(0.0, c - S.POSITION_JITTER - b.radius) - 1e-9)
                self.assertLessEqual(pos + b.radius, max(S.IMAGE_SIZE, c + S.POSITION_JITTER + b.radius) + 1e-9)
                self.assertEqual(int(pos // (S.IMAGE_SIZE / 3)), S.GRID_CENTRES.index(c))


class SplitTest(unittest.TestCase):
    def test_training_scenes_never_hold_a_held_out_combination(self):
        for i in range(3000):
            for s in S.scene("train", i, 0).shapes:
                self.assertNotIn(s.attributes, S.HELD_OUT_TUPLES, f"train scene {i}")

    def test_every_held_out_scene_is_a_new_combination(self):
        for i in range(1000):
            sc = S.scene("heldout", i, 0)
            self.assertTrue(any(s.attributes in S.HELD_OUT_TUPLES for s in sc.shapes), f"held-out scene {i}")

    def test_zero_shot_stays_fair(self):
        # every (colour, shape) pair has held-out combinations and many training ones
        for colour in S.COLOURS:
            for shape in S.SHAPES:
                held = [t for t in S.HELD_OUT_TUPLES if t[:2] == (colour, shape)]
                self.assertEqual(len(held), S.HELD_OUT_PER_PAIR)
        seen_pairs = {s.attributes[:2] for i in range(3000) for s in S.scene("train", i, 0).shapes}
        self.assertEqual(len(seen_pairs), len(S.COLOURS) * len(S.SHAPES))

    def test_two_shapes_do_not_overlap(self):
        for i in range(500):
            sc = S.scene("train", i, 0, num_shapes=2)
            a, b = sc.shapes
            self.assertNotEqual(a.position, b.position)
            overlap = np.minimum(S.shape_mask(a), S.shape_mask(b))
            self.assertEqual(float(overlap.max()), 0.0, f"scene {i}")


class RenderTest(unittest.TestCase):
    def test_shape_has_its_colour_and_position(self):
        sc = S.scene("heldout", 0, 0, num_shapes=1)
        s = sc.shapes[0]
        img = sc.render().astype(int)
        centre = img[int(s.cy) - 1:int(s.cy) + 2, int(s.cx) - 1:int(s.cx) + 2].reshape(-1, 3)
        if s.shape != "ring":  # a ring's centre shows the background
            self.assertLess(np.abs(centre - np.asarray(s.rgb)).max(), 3)
        self.assertEqual(s.position, S.POSITIONS[3 * S.GRID_CENTRES.index(min(
            S.GRID_CENTRES, key=lambda c: abs(c - s.cy))) + S.GRID_CENTRES.index(min(
                S.GRID_CENTRES, key=lambda c: abs(c - s.cx)))])

    def test_edges_are_antialiased(self):
        sc = S.scene("train", 0, 0, num_shapes=1)
        mask = S.shape_mask(sc.shapes[0])
        self.assertTrue(((mask > 0.05) & (mask < 0.95)).any())

    def test_textures_are_low_frequency(self):
        # mean absolute difference between neighbouring pixels of textured backgrounds stays tiny
        n = 0
        for i in range(200):
            bg = S.scene("train", i, 0).background
            if bg.kind != "textured":
                continue
            img = S._render_background(bg)
            self.assertLess(float(np.abs(np.diff(img, axis=1)).mean()), 0.01)
            n += 1
        self.assertGreater(n, 20)

    def test_caption_words_are_in_the_vocabulary(self):
        for i in range(300):
            for text in (S.scene("train", i, 0).caption, S.scene("heldout", i, 0).caption):
                for w in text.split():
                    self.assertIn(w, VOCAB)

    def test_caption_states_every_attribute(self):
        sc = S.scene("train", 5, 0, num_shapes=2)
        for s in sc.shapes:
            self.assertIn(f"a {s.size} {s.colour} {s.shape} {s.position}", sc.caption)


PINNED_CAPTIONS = "566d08aa27b91767"
PINNED_GEOMETRY = "18f7dd762941df6c"

if __name__ == "__main__":
    unittest.main()
