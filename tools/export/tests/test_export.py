"""End to end: official-layout checkpoints -> toklip_export.export -> bundle -> parity in onnxruntime-node."""
import hashlib
import json
import os
import tempfile
import unittest

import torch

from tools.export.tests import REPO_ROOT
from toklip_export import export
from toklip_export.config import tiny_config
from toklip_export.layouts import llamagen_checkpoint, training_checkpoint
from toklip_export.model import build_model
from toklip_export.validate import check_bundle, check_parity

FIXTURE = os.path.join(REPO_ROOT, "test", "fixtures", "bundles", "tiny-64")
FLOAT16_FIXTURE = os.path.join(REPO_ROOT, "test", "fixtures", "bundles-float16", "tiny-64-f16")
TINY_FLAGS = ["--vision-heads", "2", "--text-heads", "2", "--vq-norm-groups", "4", "--threads", "2"]


def fingerprint(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.join(root, f)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def export_cli(args):
    """Runs toklip_export.export's main() and returns its exit code."""
    return export.main(args + TINY_FLAGS)


class FixtureBundleTest(unittest.TestCase):
    def test_committed_fixture_is_valid_and_in_parity(self):
        before = fingerprint(FIXTURE)
        manifest = check_bundle(FIXTURE)
        self.assertEqual(fingerprint(FIXTURE), before)  # checking is read-only
        self.assertEqual(manifest["name"], "tiny-64")
        self.assertEqual((manifest["image_size"], manifest["grid"], manifest["num_tokens"]), (64, [4, 4], 16))
        self.assertEqual(manifest["source"]["checkpoints"][0]["layout"], "checkpoint['state_dict'], 'module.' prefix")
        report = check_parity(FIXTURE)
        self.assertTrue(report["ok"])
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(FIXTURE) for f in fs)
        self.assertLess(size, 2_000_000)

    def test_committed_float16_fixture_is_valid_and_in_parity(self):
        manifest = check_bundle(FLOAT16_FIXTURE)
        self.assertEqual((manifest["name"], manifest["dtype"]), ("tiny-64-f16", "float16"))
        report = check_parity(FLOAT16_FIXTURE)
        self.assertTrue(report["ok"])
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(FLOAT16_FIXTURE) for f in fs)
        self.assertLess(size, 1_500_000)


class MissingNodeModulesTest(unittest.TestCase):
    def test_parity_without_node_modules_fails_loudly(self):
        from unittest import mock
        from toklip_export import tokenizer, validate
        from toklip_export.validate import BundleError
        with tempfile.TemporaryDirectory() as empty, mock.patch.object(tokenizer, "REPO_ROOT", empty), \
                mock.patch.object(validate, "REPO_ROOT", empty):
            with self.assertRaisesRegex(BundleError, r"parity check cannot run: .*node_modules/@huggingface/"
                                        r"tokenizers is missing: run `npm install`"):
                check_parity(FIXTURE)


class OfficialLayoutExportTest(unittest.TestCase):
    def test_export_of_an_official_layout_checkpoint_is_in_parity(self):
        cfg = tiny_config()
        model = build_model(cfg, seed=11)
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = os.path.join(tmp, "TokLIP_T.pt")
            torch.save(training_checkpoint(model), ckpt)
            out = os.path.join(tmp, "bundle")
            self.assertEqual(export_cli(["--checkpoint", ckpt, "--out", out, "--golden"]), 0)
            manifest = check_bundle(out)
            self.assertEqual(manifest["name"], "bundle")
            self.assertIsNone(manifest["text"]["tokenizer"])
            with open(os.path.join(out, "golden", "manifest.json")) as f:
                self.assertIsNone(json.load(f)["texts"])  # no tokenizer: synthetic ids
            self.assertTrue(check_parity(out)["ok"])

    def test_vision_only_checkpoint_with_the_vq_from_a_llamagen_file(self):
        cfg = tiny_config(text=False)
        model = build_model(cfg, seed=12)
        with tempfile.TemporaryDirectory() as tmp:
            ckpt, vq = os.path.join(tmp, "TokLIP_V.pt"), os.path.join(tmp, "vq.pt")
            torch.save(training_checkpoint(model, include_vq=False), ckpt)
            torch.save(llamagen_checkpoint(model, "model"), vq)
            out = os.path.join(tmp, "vision-only")
            self.assertEqual(export_cli(["--checkpoint", ckpt, "--vq-checkpoint", vq, "--out", out, "--golden"]), 0)
            manifest = check_bundle(out)
            self.assertIsNone(manifest["text"])
            self.assertIsNone(manifest["architecture"]["text"])
            self.assertEqual(sorted(manifest["graphs"]), ["semantic_encoder", "vq_decoder", "vq_encoder"])
            self.assertEqual([(c["role"], c["file"], c["layout"]) for c in manifest["source"]["checkpoints"]],
                             [("toklip", "TokLIP_V.pt", "checkpoint['state_dict'], 'module.' prefix"),
                              ("vq", "vq.pt", "checkpoint['model']")])
            self.assertTrue(check_parity(out)["ok"])


if __name__ == "__main__":
    unittest.main()
