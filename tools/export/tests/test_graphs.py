"""The exported graphs: numerics as ONNX ops (spec section 10), float16 bundles, external data,
the MLP input variant, random-init bundles."""
import contextlib
import io
import json
import os
import tempfile
import unittest
from unittest import mock

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from tools.export.tests import REPO_ROOT
from toklip_export import bundle, export
from toklip_export.bundle import ExportOptions, write_bundle
from toklip_export.config import tiny_config
from toklip_export.convert import random_model
from toklip_export.validate import check_bundle, check_parity
from toklip_export.vit import MASK_VALUE

FIXTURE = os.path.join(REPO_ROOT, "test", "fixtures", "bundles", "tiny-64")
QUIET = dict(log=lambda msg: None)


def load(folder, graph):
    return onnx.load(os.path.join(folder, f"{graph}.onnx"))


def constants(model):
    """name -> numpy value of every initializer and Constant output."""
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(a.t)
    return values


def constant_value(model, name, values):
    """Evaluates the constant subgraph torch emits for F.pad's pads (onnxruntime folds it at
    load time): ConstantOfShape, Concat, Reshape, Slice, Transpose, Cast over constants."""
    if name in values:
        return values[name]
    node = next(n for n in model.graph.node if name in n.output)
    x = [constant_value(model, i, values) if i else None for i in node.input]
    a = attrs(node)
    if node.op_type == "ConstantOfShape":
        return np.full(x[0].astype(np.int64), numpy_helper.to_array(a["value"]).item())
    if node.op_type == "Concat":
        return np.concatenate(x, axis=a["axis"])
    if node.op_type == "Reshape":
        return x[0].reshape(x[1])
    if node.op_type == "Transpose":
        return x[0].transpose(a["perm"])
    if node.op_type == "Cast":
        return x[0].astype(np.int64)
    if node.op_type == "Slice":
        starts, ends, axes, steps = x[1], x[2], x[3], x[4]
        index = [slice(None)] * x[0].ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            index[ax] = slice(int(s), None if e < -x[0].shape[ax] else int(e), int(st))
        return x[0][tuple(index)]
    raise NotImplementedError(node.op_type)


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def ops(model, op_type):
    return [n for n in model.graph.node if n.op_type == op_type]


class FixtureGraphsTest(unittest.TestCase):
    """Structure of the committed fixture's float32 graphs."""

    def test_opset_and_no_fused_ops_newer_than_17(self):
        for g in ("vq_encoder", "semantic_encoder", "vq_decoder", "text_encoder"):
            m = load(FIXTURE, g)
            self.assertEqual([o.version for o in m.opset_import if o.domain in ("", "ai.onnx")], [17])
            used = {n.op_type for n in m.graph.node}
            self.assertFalse(used & {"GroupNormalization", "Gelu", "Attention"}, g)

    def test_vq_encoder(self):
        m = load(FIXTURE, "vq_encoder")
        c = constants(m)
        pads = [constant_value(m, n.input[1], c).tolist() for n in ops(m, "Pad")]
        self.assertEqual(pads, [[0, 0, 0, 0, 0, 0, 1, 1]] * 4)  # bottom/right only, 4 downsamples
        for n in ops(m, "InstanceNormalization"):
            self.assertAlmostEqual(attrs(n)["epsilon"], 1e-6)
        argmin = ops(m, "ArgMin")
        self.assertEqual(len(argmin), 1)
        self.assertEqual((attrs(argmin[0])["keepdims"], attrs(argmin[0]).get("select_last_index", 0)), (0, 0))
        # the normalised codebook is a constant with unit rows
        codebook = [v for k, v in c.items() if k.endswith("codebook_t")]
        self.assertEqual(len(codebook), 1)
        np.testing.assert_allclose(np.linalg.norm(codebook[0], axis=0), 1.0, rtol=1e-6)
        self.assertFalse(ops(m, "Erf"))

    def test_vq_decoder_upsamples_by_pixel_replication(self):
        m = load(FIXTURE, "vq_decoder")
        resize = ops(m, "Resize")
        self.assertEqual(len(resize), 4)
        for n in resize:
            a = attrs(n)
            self.assertEqual((a["mode"], a["coordinate_transformation_mode"], a["nearest_mode"]),
                             (b"nearest", b"asymmetric", b"floor"))

    def test_semantic_encoder(self):
        m = load(FIXTURE, "semantic_encoder")
        self.assertEqual([d.dim_param for d in m.graph.input[0].type.tensor_type.shape.dim], ["batch", "tokens"])
        for n in ops(m, "LayerNormalization"):
            self.assertAlmostEqual(attrs(n)["epsilon"], 1e-6)
        self.assertEqual(len(ops(m, "LayerNormalization")), 2 * 2 + 1 + 1)  # 2 blocks, final, pool
        self.assertFalse(ops(m, "Erf"))  # table input: the exact-GELU token MLP is precomputed
        self.assertTrue(ops(m, "Tanh"))  # tanh GELU in the blocks and the pool MLP
        masks = [v for v in constants(m).values() if v.ndim == 2 and v.shape == (16, 16)]
        self.assertEqual(len(masks), 1)
        np.testing.assert_array_equal(masks[0], np.triu(np.full((16, 16), MASK_VALUE, np.float32), 1))

    def test_text_encoder(self):
        m = load(FIXTURE, "text_encoder")
        self.assertFalse(ops(m, "Erf"))
        self.assertTrue(ops(m, "Tanh"))
        for n in ops(m, "LayerNormalization"):
            self.assertAlmostEqual(attrs(n)["epsilon"], 1e-6)


class VariantsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.loaded = random_model("tiny", config=tiny_config(), seed=7)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def export(self, name, **kwargs):
        out = os.path.join(self.tmp.name, name)
        write_bundle(self.loaded, out, ExportOptions(name=name, golden=True, **QUIET, **kwargs),
                     random_init={"preset": "tiny", "seed": 7})
        return out, check_bundle(out)

    def test_float16_bundle(self):
        out, manifest = self.export("t16", dtype="float16")
        self.assertEqual((manifest["dtype"], manifest["compute_dtype"], manifest["io_dtype"]),
                         ("float16", "float16 (vq quantiser in float32)", "float32"))
        for g, entry in manifest["graphs"].items():
            m = load(out, g)
            kinds = {onnx.TensorProto.DataType.Name(t.data_type) for t in m.graph.initializer}
            self.assertIn("FLOAT16", kinds, g)
            float32 = [t.name for t in m.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
            expected = ["quantiser/codebook_t", "quantiser/codebook_sq"] if g == "vq_encoder" else []
            self.assertEqual(sorted(float32), sorted(expected), g)
        with open(os.path.join(out, "golden", "manifest.json")) as f:
            self.assertEqual(json.load(f)["float16_criteria"], {"ids_identical": 0.99, "cosine": 0.999})
        report = check_parity(out)
        self.assertEqual({c["metric"] for c in report["checks"]}, {"identical_share", "min_cosine"})
        self.assertEqual({g: e["compute_dtype"] for g, e in manifest["graphs"].items()},
                         {"vq_encoder": "float16 (quantiser in float32)", "semantic_encoder": "float16",
                          "vq_decoder": "float16", "text_encoder": "float16"})

    def test_float16_bundle_with_a_float32_vq_encoder(self):
        out, manifest = self.export("t16v", dtype="float16", float32_vq_encoder=True)
        self.assertEqual(manifest["compute_dtype"], "float16 (vq_encoder in float32)")
        self.assertEqual(manifest["graphs"]["vq_encoder"]["compute_dtype"], "float32")
        m = load(out, "vq_encoder")
        self.assertEqual({t.data_type for t in m.graph.initializer}, {onnx.TensorProto.FLOAT})
        ids = [c for c in check_parity(out)["checks"] if c["array"] == "ids"][0]
        self.assertEqual((ids["metric"], ids["limit"], ids["value"]), ("identical_share", 1, 1))

    def test_mlp_input_and_external_data(self):
        with mock.patch.object(bundle, "EXTERNAL_DATA_THRESHOLD", 20_000):
            out, manifest = self.export("ext", token_embedding="mlp")
        self.assertEqual(manifest["semantic_encoder_input"], "mlp")
        self.assertEqual(len(ops(load(out, "semantic_encoder"), "Erf")), 1)  # exact GELU of the token MLP
        for g, entry in manifest["graphs"].items():
            self.assertEqual(entry["external_data"], [f"{g}.onnx.data"])
            self.assertIn(f"{g}.onnx.data", manifest["files"])
            self.assertLess(os.path.getsize(os.path.join(out, f"{g}.onnx")), 200_000)
        self.assertEqual(manifest["source"], {"random_init": {"preset": "tiny", "seed": 7}, "checkpoints": []})
        self.assertIsNone(manifest["text"]["tokenizer"])
        self.assertTrue(check_parity(out)["ok"])

    def test_parity_checker_excuses_only_listed_near_ties(self):
        out, _ = self.export("ties")
        gdir = os.path.join(out, "golden")
        ids = np.fromfile(os.path.join(gdir, "ids.bin"), dtype="<i8").reshape(3, -1)
        ids[1, 5] = (ids[1, 5] + 1) % 64  # pretend the reference picked another code there
        ids.tofile(os.path.join(gdir, "ids.bin"))
        from toklip_export.validate import parity_report

        def ids_check():  # (the other graphs read golden ids too and fail here, as they should)
            return [c for c in parity_report(out)["checks"] if c["array"] == "ids"][0]
        check = ids_check()
        self.assertEqual((check["ok"], check["value"]), (False, 47 / 48))
        with open(os.path.join(gdir, "manifest.json")) as f:
            golden = json.load(f)
        golden["near_ties"] = [[1, 5]]
        with open(os.path.join(gdir, "manifest.json"), "w") as f:
            json.dump(golden, f)
        check = ids_check()
        self.assertEqual((check["ok"], check["value"], check["note"]),
                         (True, 1, "1 near-tie tokens excluded, 1 of them differ"))

    def test_bundle_check_catches_tampering(self):
        out, _ = self.export("tamper")
        with open(os.path.join(out, "golden", "ids.bin"), "r+b") as f:
            f.write(b"\x01")
        os.remove(os.path.join(out, "golden", "image_2.png"))
        from toklip_export.validate import BundleError
        with self.assertRaises(BundleError) as ctx:
            check_bundle(out)
        msg = str(ctx.exception)
        self.assertIn("golden/ids.bin: size or sha256 differs from the manifest", msg)
        self.assertIn("files listed ['golden/image_2.png'] are missing", msg)
        self.assertIn("golden image image_2.png is missing", msg)


class Float16ConversionTest(unittest.TestCase):
    def test_out_of_range_values_are_clamped_and_counted(self):
        from toklip_export.fp16 import Float16Report, _to_fp16
        report = Float16Report()
        half = _to_fp16(np.array([1.5, 7e4, -1e9, -np.inf, 3e-8], np.float32), report)
        self.assertEqual(half.dtype, np.float16)
        np.testing.assert_array_equal(half[:4], np.array([1.5, 65504, -65504, -np.inf], np.float16))
        self.assertEqual(report.clamped_values, 2)

    def test_resize_scales_stay_float32(self):
        from toklip_export.fp16 import convert_float16
        m = load(FIXTURE, "vq_decoder")
        convert_float16(m)
        c = constants(m)
        for n in ops(m, "Resize"):
            self.assertEqual(c[n.input[2]].dtype, np.float32)
        onnx.checker.check_model(m, full_check=True)
        self.assertEqual([o.type.tensor_type.elem_type for o in m.graph.output], [onnx.TensorProto.FLOAT])


class RandomInitTest(unittest.TestCase):
    """--random-init weights depend on the seed only: benchmarks of two exports compare like with like."""

    # Set to constants by init_random, whatever the seed.
    FIXED = {"logit_scale", "logit_bias", "visual.trunk.vq.quantize.codebook_used"}

    @staticmethod
    def weights(seed):
        return random_model("tiny", config=tiny_config(), seed=seed).model.state_dict()

    def test_same_seed_same_weights_other_seed_other_weights(self):
        a, b, c = self.weights(3), self.weights(3), self.weights(4)
        self.assertEqual(list(a), list(b))
        for name in a:
            self.assertTrue(torch.equal(a[name], b[name]), f"{name} differs for the same seed")
        same = {name for name in a if torch.equal(a[name], c[name])}
        self.assertLessEqual(same, self.FIXED, "tensors equal for seeds 3 and 4")
        self.assertGreater(len(a), 50)


class CommandLineTest(unittest.TestCase):
    def test_random_init_needs_a_preset(self):
        with contextlib.redirect_stderr(io.StringIO()) as err, self.assertRaises(SystemExit):
            export.parse_args(["--random-init", "--out", "x"])
        self.assertIn("--random-init needs --preset", err.getvalue())

    def test_existing_output_folder_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            open(os.path.join(tmp, "keep.txt"), "w").close()
            with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
                code = export.main(["--random-init", "--preset", "toklip-s-256", "--out", tmp])
            self.assertEqual(code, 1)
            self.assertIn("exists and is not empty", err.getvalue())


if __name__ == "__main__":
    unittest.main()
