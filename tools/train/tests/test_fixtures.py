import io
import json
import unittest

import numpy as np
from PIL import Image

from toklip_train.networks import REPO_ROOT

from toklip_train import make_drawn_fixtures, make_test_scenes

FIXTURES = REPO_ROOT / "test" / "fixtures" / "scenes"
DRAWN = REPO_ROOT / "test" / "fixtures" / "drawn"


class FixtureScenesTest(unittest.TestCase):
    def test_committed_scenes_are_what_the_generator_writes(self):
        files = make_test_scenes.fixtures()
        pixels = lambda data: np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))  # noqa: E731
        for name, (data, _) in files.items():
            # pixels, not bytes: PNG compression may differ between zlib versions
            np.testing.assert_array_equal(pixels((FIXTURES / name).read_bytes()), pixels(data),
                                          f"{name}: run tools/train/make_test_scenes.py")
        self.assertEqual((FIXTURES / "scenes.json").read_text(), make_test_scenes.index_json(files))

    def test_red_circle_is_held_out_and_red(self):
        doc = json.loads((FIXTURES / "scenes.json").read_text())
        meta = doc["scenes"][doc["red_circle"]]
        self.assertEqual(meta["split"], "heldout")
        self.assertRegex(meta["caption"], r"^a (small|medium|large) red circle ")


class DrawnFixturesTest(unittest.TestCase):
    def test_committed_pictures_are_what_the_drawn_set_writes(self):
        files = make_drawn_fixtures.fixtures()
        pixels = lambda data: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)  # noqa: E731
        for name, (data, _) in files.items():
            # pixels, not bytes (zlib and libjpeg versions may encode differently); a JPEG within 2 levels
            np.testing.assert_allclose(pixels((DRAWN / name).read_bytes()), pixels(data), rtol=0,
                                       atol=2 if name.endswith(".jpeg") else 0,
                                       err_msg=f"{name}: run tools/python -m toklip_train.make_drawn_fixtures")
        self.assertEqual((DRAWN / "drawn.json").read_text(), make_drawn_fixtures.index_json(files))

    def test_the_red_circle_is_large_red_and_on_white(self):
        doc = json.loads((DRAWN / "drawn.json").read_text())
        self.assertEqual(len(doc["red_circle"]), 2)
        for name in doc["red_circle"]:
            meta = doc["pictures"][name]
            self.assertEqual((meta["colour"], meta["shape"], meta["background"]), ("red", "circle", "white"))
            self.assertGreaterEqual(meta["extent"], 0.5)
            pixels = np.asarray(Image.open(DRAWN / name).convert("RGB")).astype(int)
            self.assertLess(np.abs(pixels[64, 64] - (255, 0, 0)).max(), 8)
            self.assertLess(np.abs(pixels[2, 2] - (255, 255, 255)).max(), 8)


if __name__ == "__main__":
    unittest.main()
