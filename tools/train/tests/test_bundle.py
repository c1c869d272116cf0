"""Guards the committed default model: every file matches the manifest, and the manifest matches
the checksum pinned here (update MANIFEST_SHA256 when the bundle is deliberately replaced)."""
import hashlib
import json
import unittest

from toklip_train.networks import REPO_ROOT
from toklip_train.recipe import MODEL_NAME

BUNDLE = REPO_ROOT / "models" / MODEL_NAME
MANIFEST_SHA256 = "cb2e104a1cc705654833f7bef71b8fdea1581075487e0b1142ec01bb23e7d2e4"
MAX_BUNDLE_BYTES = 25_000_000


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ShippedBundleTest(unittest.TestCase):
    def setUp(self):
        self.manifest = json.loads((BUNDLE / "manifest.json").read_text())

    def test_manifest_is_the_pinned_one(self):
        self.assertEqual(sha256(BUNDLE / "manifest.json"), MANIFEST_SHA256)

    def test_every_file_matches_the_manifest(self):
        listed = self.manifest["files"]
        present = sorted(str(p.relative_to(BUNDLE)) for p in BUNDLE.rglob("*") if p.is_file())
        self.assertEqual(present, sorted([*listed, "manifest.json"]))
        for name, entry in listed.items():
            path = BUNDLE / name
            self.assertEqual(path.stat().st_size, entry["size"], name)
            self.assertEqual(sha256(path), entry["sha256"], name)

    def test_small_and_described(self):
        total = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file())
        self.assertLess(total, MAX_BUNDLE_BYTES)
        self.assertEqual(self.manifest["name"], MODEL_NAME)
        self.assertEqual((self.manifest["image_size"], self.manifest["grid"]), (128, [8, 8]))
        self.assertEqual(self.manifest["logit_scale"], 100.0)
        self.assertIsNotNone(self.manifest["golden"])
        card = (BUNDLE / "MODEL_CARD.md").read_text()
        self.assertIn("demonstration model, not the released TokLIP", card)


if __name__ == "__main__":
    unittest.main()
