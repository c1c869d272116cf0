import io
import json
import unittest

import numpy as np
from PIL import Image

from toklip_train.networks import REPO_ROOT

from toklip_train import make_test_scenes

FIXTURES = REPO_ROOT / "test" / "fixtures" / "scenes"


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


if __name__ == "__main__":
    unittest.main()
