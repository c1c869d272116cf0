"""Reading .pt archives without running their pickle and without reading unneeded tensors."""
import os
import tempfile
import unittest

import numpy as np
import torch

from toklip_export import torchfile
from toklip_export.config import tiny_config
from toklip_export.convert import load_toklip, toklip_state_dict
from toklip_export.layouts import training_checkpoint
from toklip_export.model import build_model


class Payload:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class TorchFileTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def test_pickled_code_is_not_run(self):
        marker = self.path("pwned")
        ckpt = training_checkpoint(build_model(tiny_config(), seed=1))
        ckpt["optimizer"]["hook"] = Payload(marker)
        torch.save(ckpt, self.path("evil.pt"))
        loaded = load_toklip(self.path("evil.pt"), vision_heads=2, text_heads=2, norm_groups=4)
        self.assertFalse(os.path.exists(marker))
        skipped = [n for n in loaded.notes if "skipped objects outside the weights" in n]
        self.assertEqual(len(skipped), 1)
        self.assertRegex(skipped[0], r"(posix|os)\.system")
        self.assertIn("numpy.core.multiarray.scalar", skipped[0])

    def test_views_offsets_strides_and_dtypes(self):
        base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
        tensors = {"slice": base[1:3], "transposed": base.t(), "column": base[:, 2], "half": base.half(),
                   "bf16": base.bfloat16()[2], "long": torch.tensor([1, -2, 3]), "scalar": torch.tensor(2.5)}
        torch.save({"state_dict": tensors, "lr": np.float64(0.1)}, self.path("views.pt"))
        obj, ignored = torchfile.read_lazy(self.path("views.pt"))
        self.assertIn("numpy.dtype", ignored)
        got = torchfile.materialize(obj["state_dict"])
        for k, v in tensors.items():
            self.assertEqual(got[k].dtype, v.dtype, k)
            self.assertTrue(torch.equal(got[k], v), k)

    def test_only_the_chosen_state_dict_is_read(self):
        ckpt = training_checkpoint(build_model(tiny_config(), seed=2))
        torch.save(ckpt, self.path("ckpt.pt"))
        obj, _ = torchfile.read_lazy(self.path("ckpt.pt"))
        moment = obj["optimizer"]["state"][0]["exp_avg"]
        self.assertIsInstance(moment, torchfile.LazyTensor)
        sd, _ = toklip_state_dict(obj, self.path("ckpt.pt"))
        self.assertEqual(len(moment.archive.storages), len(sd))  # optimizer moments never read
        self.assertNotIn(moment.key, moment.archive.storages)

    def test_legacy_format_falls_back_to_torch_load(self):
        model = build_model(tiny_config(), seed=3)
        torch.save(training_checkpoint(model), self.path("legacy.pt"), _use_new_zipfile_serialization=False)
        self.assertFalse(torchfile.is_torch_zip(self.path("legacy.pt")))
        loaded = load_toklip(self.path("legacy.pt"), vision_heads=2, text_heads=2, norm_groups=4)
        self.assertTrue(torch.equal(loaded.model.trunk.pos_embed, model.trunk.pos_embed))


if __name__ == "__main__":
    unittest.main()
