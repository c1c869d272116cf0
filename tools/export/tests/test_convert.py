"""Checkpoint loading: every accepted layout, hyper-parameters from shapes, and every error."""
import contextlib
import io
import os
import tempfile
import unittest

import numpy as np
import torch

from toklip_export import export
from toklip_export.config import small_config, tiny_config
from toklip_export.convert import CheckpointError, infer_config, load_toklip
from toklip_export.layouts import llamagen_checkpoint, official_state_dict, training_checkpoint
from toklip_export.model import build_model

TINY = dict(vision_heads=2, text_heads=2, norm_groups=4)


def same_weights(test, a, b):
    sa, sb = a.state_dict(), b.state_dict()
    for k, v in sa.items():
        if k in ("logit_bias", "visual.trunk.vq.quantize.codebook_used"):
            continue
        test.assertTrue(torch.equal(v, sb[k]), k)


class LayoutTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = build_model(tiny_config(), seed=21)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def save(self, obj, name):
        path = os.path.join(self.tmp.name, name)
        torch.save(obj, path)
        return path

    def test_official_training_checkpoint(self):
        ckpt = training_checkpoint(self.model)
        self.assertIsInstance(ckpt["optimizer"]["param_groups"][0]["lr"], np.floating)
        self.assertNotIn("module.logit_bias", ckpt["state_dict"])
        self.assertTrue(all(k.startswith("module.") for k in ckpt["state_dict"]))
        path = self.save(ckpt, "official.pt")
        loaded = load_toklip(path, **TINY)
        same_weights(self, self.model, loaded.model)
        self.assertEqual(loaded.config, tiny_config())
        self.assertEqual(loaded.sources[0].layout, "checkpoint['state_dict'], 'module.' prefix")
        self.assertEqual(loaded.model.logit_bias.item(), -10.0)  # absent from the file: official init
        x = torch.rand(1, 3, 64, 64) * 2 - 1
        with torch.no_grad():
            torch.testing.assert_close(loaded.model.encode_image(x), self.model.encode_image(x))

    def test_state_dict_wrapper_without_prefix_and_bare_state_dict(self):
        for name, obj, layout in (
                ("wrapped.pt", training_checkpoint(self.model, module_prefix=False), "checkpoint['state_dict']"),
                ("bare.pt", official_state_dict(self.model, logit_bias=True), "bare state dict"),
                ("bare-prefixed.pt", {"module." + k: v for k, v in official_state_dict(self.model).items()},
                 "bare state dict, 'module.' prefix")):
            with self.subTest(layout=name):
                loaded = load_toklip(self.save(obj, name), **TINY)
                same_weights(self, self.model, loaded.model)
                self.assertEqual(loaded.sources[0].layout, layout)

    def test_vq_supplied_by_llamagen_file_in_each_layout(self):
        toklip = self.save(training_checkpoint(self.model, include_vq=False), "novq.pt")
        for key in ("model", "ema", "state_dict", None):
            with self.subTest(key=key):
                vq = self.save(llamagen_checkpoint(self.model, key), f"vq-{key}.pt")
                loaded = load_toklip(toklip, vq_path=vq, **TINY)
                same_weights(self, self.model, loaded.model)
                self.assertEqual([s.role for s in loaded.sources], ["toklip", "vq"])
                self.assertEqual(loaded.sources[1].layout, f"checkpoint['{key}']" if key else "bare state dict")

    def test_vq_missing_everywhere(self):
        path = self.save(training_checkpoint(self.model, include_vq=False), "novq2.pt")
        with self.assertRaisesRegex(CheckpointError, r"has no visual\.trunk\.vq\.\* weights: pass --vq-checkpoint"):
            load_toklip(path, **TINY)

    def test_vq_cross_check(self):
        toklip = self.save(training_checkpoint(self.model), "withvq.pt")
        same = self.save(llamagen_checkpoint(self.model), "vq-same.pt")
        self.assertIn("the embedded VQ equals vq-same.pt checkpoint['model']", load_toklip(toklip, vq_path=same, **TINY).notes)
        other = build_model(tiny_config(), seed=22)
        # TokLIP reads 'ema' first; a file whose 'model' entry is the embedded copy still passes
        both = self.save(llamagen_checkpoint(self.model, "model", ema=other), "vq-ema.pt")
        notes = load_toklip(toklip, vq_path=both, **TINY).notes
        self.assertIn("the embedded VQ equals vq-ema.pt checkpoint['model'] (not checkpoint['ema'])", notes)
        different = self.save(llamagen_checkpoint(other), "vq-other.pt")
        with self.assertRaises(CheckpointError) as ctx:
            load_toklip(toklip, vq_path=different, **TINY)
        msg = str(ctx.exception)
        self.assertIn("the VQ weights inside the TokLIP checkpoint differ from", msg)
        self.assertIn("encoder.conv_in.weight (max abs diff", msg)
        self.assertIn("Leave out --vq-checkpoint", msg)


class StrictnessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = build_model(tiny_config(), seed=31)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def load_modified(self, change, **kwargs):
        ckpt = training_checkpoint(self.model)
        change(ckpt["state_dict"])
        path = os.path.join(self.tmp.name, "modified.pt")
        torch.save(ckpt, path)
        return load_toklip(path, **{**TINY, **kwargs})

    def test_missing_key(self):
        with self.assertRaisesRegex(CheckpointError, r"missing keys \(1\): visual\.trunk\.blocks\.1\.attn\.proj\.weight"):
            self.load_modified(lambda sd: sd.pop("module.visual.trunk.blocks.1.attn.proj.weight"))

    def test_missing_block_is_reported_key_by_key(self):
        def drop(sd):
            for k in [k for k in sd if ".text.transformer.resblocks.0." in k]:
                del sd[k]
        with self.assertRaisesRegex(CheckpointError, r"missing keys \(12\): text\.transformer\.resblocks\.0\.ln_1\.weight"):
            self.load_modified(drop)

    def test_unexpected_key(self):
        def add(sd):
            sd["module.visual.trunk.head.weight"] = torch.zeros(3, 32)
        with self.assertRaisesRegex(CheckpointError, r"unexpected keys \(1\): visual\.trunk\.head\.weight"):
            self.load_modified(add)

    def test_wrong_shape(self):
        def widen(sd):
            sd["module.visual.trunk.blocks.1.mlp.fc1.weight"] = torch.zeros(80, 32)
        with self.assertRaisesRegex(CheckpointError, r"shape mismatches \(1\): visual\.trunk\.blocks\.1\.mlp\.fc1\.weight "
                                    r"\[80, 32\] \(expected \[64, 32\]\)"):
            self.load_modified(widen)  # the MLP width comes from block 0, so block 1 disagrees

    def test_allowed_absences_and_extras(self):
        def strip(sd):
            sd.pop("module.visual.trunk.vq.quantize.codebook_used")
            sd["module.logit_bias"] = torch.tensor(-3.0)
        loaded = self.load_modified(strip)
        self.assertEqual(loaded.model.logit_bias.item(), -3.0)
        self.assertEqual(loaded.model.vq.quantize.codebook_used.abs().sum().item(), 0.0)

    def test_mixed_prefix(self):
        def mix(sd):
            sd["logit_scale"] = sd.pop("module.logit_scale")
        with self.assertRaisesRegex(CheckpointError, "some keys have the 'module.' prefix and some do not"):
            self.load_modified(mix)

    def test_wrong_preset(self):
        with self.assertRaisesRegex(CheckpointError, r"contradicts preset toklip-s-256: .*image_size = 64 \(preset 256\)"):
            self.load_modified(lambda sd: None, preset="toklip-s-256")

    def test_preset_contradiction_in_resolution_only(self):
        sd = shape_only(_official_shapes("toklip-s-256"))
        sd["visual.trunk.pos_embed"] = torch.empty(()).expand(1, 576, 1152)
        self.assertEqual(infer_config(sd, preset="toklip-l-384").image_size, 384)
        with self.assertRaisesRegex(CheckpointError, r"contradicts preset toklip-s-256: image_size = 384 \(preset 256\); "
                                    r"vision\.num_tokens = 576 \(preset 256\)$"):
            infer_config(sd, preset="toklip-s-256")

    def test_heads_that_do_not_divide_the_width(self):
        with self.assertRaisesRegex(CheckpointError, "vision width 32 is not divisible by 3 heads"):
            self.load_modified(lambda sd: None, vision_heads=3)

    def test_non_square_token_count(self):
        def odd(sd):
            sd["module.visual.trunk.pos_embed"] = torch.zeros(1, 15, 32)
        with self.assertRaisesRegex(CheckpointError, "pos_embed has 15 rows, not a square number"):
            self.load_modified(odd)


def _official_shapes(name):
    import json
    from tools.export.tests import spec_statedict_path
    with open(spec_statedict_path(name)) as f:
        return {k: v["shape"] for k, v in json.load(f)["state_dict"].items() if k != "logit_bias"}


def shape_only(shapes):
    """Tensors of the given shapes over one shared element (zero strides): no memory cost."""
    return {k: torch.empty(()).expand(v) for k, v in shapes.items()}


class InferenceTest(unittest.TestCase):
    def test_full_size_shapes_give_the_presets(self):
        for name in ("toklip-s-256", "toklip-l-384"):
            with self.subTest(preset=name):
                sd = shape_only(_official_shapes(name))
                from toklip_export.config import PRESETS
                self.assertEqual(infer_config(sd), PRESETS[name])
                self.assertEqual(infer_config(sd, preset=name), PRESETS[name])

    def test_unusual_sizes_are_read_from_shapes(self):
        cfg = small_config(96, vocab_size=77, context_length=9)
        sd = official_state_dict(build_model(cfg, seed=1))
        self.assertEqual(infer_config(sd, vision_heads=3, text_heads=3), cfg)


class CorruptFileTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def path(self, name, data: bytes):
        p = os.path.join(self.tmp.name, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def test_unreadable_files(self):
        buf = io.BytesIO()
        torch.save(training_checkpoint(build_model(tiny_config(), seed=1)), buf)
        whole = buf.getvalue()
        for name, data in (("truncated.pt", whole[: len(whole) // 2]), ("garbage.pt", b"\x80\x02not a pickle" * 10),
                           ("empty.pt", b"")):
            with self.subTest(file=name):
                with self.assertRaisesRegex(CheckpointError, rf"cannot read checkpoint .*{name} \(\d+ bytes\): .*"
                                            r"Is it a complete PyTorch \.pt file\?"):
                    load_toklip(self.path(name, data), **TINY)

    def test_missing_file(self):
        with self.assertRaisesRegex(CheckpointError, "checkpoint not found: .*nothing.pt"):
            load_toklip(os.path.join(self.tmp.name, "nothing.pt"))

    def test_wrong_content(self):
        p = os.path.join(self.tmp.name, "list.pt")
        torch.save([1, 2, 3], p)
        with self.assertRaisesRegex(CheckpointError, "is not a TokLIP checkpoint: expected a dict with 'state_dict' "
                                    "or a state dict of tensors, found a list"):
            load_toklip(p)
        p = os.path.join(self.tmp.name, "vqonly.pt")
        torch.save(llamagen_checkpoint(build_model(tiny_config(), seed=1)), p)
        with self.assertRaisesRegex(CheckpointError, r"found a dict with keys \['model', 'steps'\]"):
            load_toklip(p)

    def test_cli_reports_errors_without_a_traceback(self):
        p = self.path("garbage.pt", b"nope")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = export.main(["--checkpoint", p, "--out", os.path.join(self.tmp.name, "out")])
        self.assertEqual(code, 1)
        self.assertRegex(err.getvalue(), r"^error: cannot read checkpoint .*garbage\.pt \(4 bytes\)")
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "out")))


if __name__ == "__main__":
    unittest.main()
