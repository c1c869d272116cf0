"""vq_from_bundle.py recovers the shipped bundle's VQ exactly: re-exported, every initializer equals
the bundle's, and the recovered VQ tokenizes scenes to the bundle's golden ids."""
import json
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

from toklip_train import vq_from_bundle as recovery
from toklip_train.networks import REPO_ROOT
from toklip_train.recipe import BROAD, MODEL_NAME
from toklip_train.vq_stages import load_vq

BUNDLE = REPO_ROOT / "models" / MODEL_NAME


def golden(name: str) -> np.ndarray:
    """An array of the bundle's golden/ (the exporter's PyTorch outputs, docs/bundle-format.md)."""
    spec = json.loads((BUNDLE / "golden" / "manifest.json").read_text())["arrays"][name]
    return np.fromfile(BUNDLE / "golden" / spec["file"], dtype=spec["dtype"]).reshape(spec["shape"])


class RecoverShippedVQTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.vq, cls.grid = recovery.recover(BUNDLE)

    def test_reexport_equals_the_bundle(self):
        recovery.check(self.vq, self.grid, BUNDLE)
        self.assertEqual(self.grid, 8)
        self.assertEqual(self.vq.config, BROAD.model.vq)  # the shipped model is recipe broad's

    def test_a_changed_weight_fails_the_check(self):
        changed = type(self.vq)(self.vq.config)
        changed.load_state_dict(self.vq.state_dict())
        with torch.no_grad():
            changed.decoder.conv_out.bias[0] += 1e-3
        with self.assertRaisesRegex(RuntimeError, "vq_decoder"):
            recovery.check(changed, self.grid, BUNDLE)

    def test_recovered_vq_gives_the_golden_ids_and_reconstructions(self):
        with torch.no_grad():
            _, ids = self.vq.encode(torch.from_numpy(golden("pixels")))
            reconstruction = self.vq.decode_ids(ids, self.grid)
        np.testing.assert_array_equal(ids.numpy(), golden("ids"))
        np.testing.assert_allclose(reconstruction.numpy(), golden("reconstruction"), atol=1e-4)

    def test_cli_writes_a_vq_file_with_its_stage_record(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "vq.pt"
            recovery.main(["--bundle", str(BUNDLE), "--out", str(out)])
            saved = load_vq(out)
            # every VQ stage of the full recipe done: --vq-from must not fine-tune the shipped VQ again
            shipped = {"run": str(BUNDLE.resolve())}
            self.assertEqual(saved["stages"], {"a": shipped, "a2": shipped, "a3": shipped})
            for name, value in self.vq.state_dict().items():
                self.assertTrue(torch.equal(saved["state_dict"][name], value), name)


if __name__ == "__main__":
    unittest.main()
