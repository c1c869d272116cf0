"""The copy of the official key/shape lists in tests/data equals the shared spec, where it is."""
import filecmp
import os
import unittest

from . import SPEC_COPY, shared_statedict_path

NAMES = ("toklip-s-256", "toklip-l-384", "llamagen-vq16")


class SpecCopyTest(unittest.TestCase):
    def test_copy_matches_the_shared_spec(self):
        for name in NAMES:
            with self.subTest(name=name):
                self.assertTrue(os.path.isfile(os.path.join(SPEC_COPY, f"{name}.json")))
                shared = shared_statedict_path(name)
                if shared is None:
                    self.skipTest("no shared/ folder beside this checkout")
                self.assertTrue(filecmp.cmp(shared, os.path.join(SPEC_COPY, f"{name}.json"), shallow=False))


if __name__ == "__main__":
    unittest.main()
