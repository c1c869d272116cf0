"""The exporter's CUDA coverage validation (tools/export/cuda/check.ts, docs/export.md): every
node of the presets' graphs (fp32 and fp16, at reduced size) has a CUDA kernel in onnxruntime,
only shape arithmetic stays on the CPU, only the graphs' inputs and outputs cross PCIe; the
planted graphs fail; the documentation's rows for the presets are what the check prints."""
import contextlib
import io
import os
import subprocess
import tempfile
import unittest

import torch

from tools.export.tests import REPO_ROOT
from toklip_export import export
from toklip_export.config import PRESETS, reduced_preset
from toklip_export.layouts import training_checkpoint
from toklip_export.model import build_model
from toklip_export.validate import CUDA_CHECK_SCRIPT, BundleError, check_cuda_coverage, cuda_coverage_report

PLANTED = os.path.join(REPO_ROOT, "test", "fixtures", "cuda-coverage", "planted")
DTYPES = {"float32": "", "float16": "-fp16"}


def doc_rows(doc: str, label: str) -> list:
    with open(os.path.join(REPO_ROOT, "docs", doc)) as f:
        return [line for line in f.read().split("\n") if line.startswith(f"| {label} |")]


def check_rows(table: str, label: str, folder: str) -> list:
    out = subprocess.run(["node", "--import", "tsx", CUDA_CHECK_SCRIPT, "--markdown", table, "--label", label, folder],
                         capture_output=True, text=True, cwd=REPO_ROOT, check=True).stdout
    return [line for line in out.split("\n") if line]


class PlantedGraphsTest(unittest.TestCase):
    def test_the_exporter_validation_fails_on_each_planted_graph(self):
        with self.assertRaises(BundleError) as caught:
            check_cuda_coverage(PLANTED)
        problems = "\n".join(caught.exception.problems)
        for expected in ("no_kernel: det (Det) runs on the CPU: no CUDA kernel for Det",
                         "wrong_type: clip_int32 (Clip) runs on the CPU: no CUDA kernel of Clip opset 13+ for these types",
                         "declined: argmin_last (ArgMin) runs on the CPU: ArgMin with select_last_index=1",
                         "crossing: nf (float) is copied host-to-device on every run"):
            self.assertIn(expected, problems)
        self.assertNotIn("clean:", problems)


class PresetExportsTest(unittest.TestCase):
    """One export per preset and dtype, at reduced size; export.main runs the CUDA coverage check."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.bundles = {}
        for preset in sorted(PRESETS):
            ckpt = os.path.join(cls.tmp.name, f"{preset}.pt")
            torch.save(training_checkpoint(build_model(reduced_preset(preset), seed=0)), ckpt)
            for dtype, suffix in DTYPES.items():
                label = preset + suffix
                out = os.path.join(cls.tmp.name, label)
                log = io.StringIO()
                with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                    code = export.main(["--checkpoint", ckpt, "--out", out, "--dtype", dtype, "--threads", "2"])
                cls.bundles[label] = (out, code, log.getvalue())

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_exports_pass_the_cuda_coverage_validation(self):
        for label, (_, code, log) in self.bundles.items():
            with self.subTest(bundle=label):
                self.assertEqual(code, 0, log[-3000:])
                self.assertIn("CUDA coverage (onnxruntime's CUDA kernels", log)
                for graph in ("vq_encoder", "semantic_encoder", "vq_decoder", "text_encoder"):
                    self.assertRegex(log, rf"{graph}: (\d+) of \d+ nodes on CUDA; on the CPU \(shape arithmetic\): ")
                # The VQ graphs keep nothing on the CPU at all.
                self.assertRegex(log, r"vq_encoder: (\d+) of \1 nodes on CUDA; on the CPU \(shape arithmetic\): none")
                self.assertRegex(log, r"vq_decoder: (\d+) of \1 nodes on CUDA; on the CPU \(shape arithmetic\): none")

    def test_only_shape_arithmetic_on_the_cpu_and_only_inputs_and_outputs_cross(self):
        for label, (folder, _, _) in self.bundles.items():
            report = cuda_coverage_report(folder)
            with self.subTest(bundle=label):
                self.assertTrue(report["ok"])
                for g in report["graphs"]:
                    self.assertEqual(g["failures"], [])
                    self.assertTrue(all(n["kind"] == "shape-arithmetic" for n in g["cpuNodes"]), g["cpuNodes"])
                    self.assertLessEqual(len(g["cpuNodes"]), 2, g["cpuNodes"])
                    self.assertEqual({t["kind"] for t in g["transfers"]}, {"input", "output"})

    def test_the_documented_rows_of_the_presets_are_the_checks_output(self):
        for label, (folder, _, _) in self.bundles.items():
            with self.subTest(bundle=label):
                self.assertEqual(doc_rows("export.md", label), check_rows("cpu-nodes", label, folder))
                self.assertEqual(doc_rows("deploy.md", label), check_rows("transfers", label, folder))


if __name__ == "__main__":
    unittest.main()
