"""The bundle's model id: derived from the output folder or given with --name, checked before
any work (issue 26: a folder with capitals failed validation only after the whole export)."""
import contextlib
import io
import json
import os
import tempfile
import time
import unittest

import torch

from toklip_export import export
from toklip_export.config import tiny_config
from toklip_export.layouts import training_checkpoint
from toklip_export.model import build_model
from toklip_export.model_id import MODEL_ID_RE, ModelIdError, model_id_from_folder
from toklip_export.validate import check_bundle

TINY_FLAGS = ["--vision-heads", "2", "--text-heads", "2", "--vq-norm-groups", "4", "--threads", "2"]


def run_export(args):
    """(exit code, stdout, stderr) of toklip_export.export.main."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = export.main(args)
    return code, out.getvalue(), err.getvalue()


class FolderNameTest(unittest.TestCase):
    def test_folder_names_become_valid_ids(self):
        cases = {"out/Bundle-A": "bundle-a", "models/toklip-s-256": "toklip-s-256", "x/My Model v2/": "my-model-v2",
                 "x/_Draft.Export": "draft.export", "x/ÜberModel": "bermodel", "x/a+b=c": "a-b-c"}
        for folder, expected in cases.items():
            with self.subTest(folder=folder):
                self.assertEqual(model_id_from_folder(folder), expected)
                self.assertRegex(expected, MODEL_ID_RE)

    def test_a_folder_name_with_nothing_usable_is_refused_naming_name(self):
        for folder in ("out/___", "out/Ü", "out/--"):
            with self.subTest(folder=folder), self.assertRaisesRegex(ModelIdError, r"pass --name"):
                model_id_from_folder(folder)


class CommandLineNameTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def test_capitals_in_the_folder_give_a_lower_case_id_and_a_valid_bundle(self):
        ckpt = os.path.join(self.tmp.name, "TokLIP_T.pt")
        torch.save(training_checkpoint(build_model(tiny_config(), seed=5)), ckpt)
        out = os.path.join(self.tmp.name, "Bundle-A")
        code, stdout, stderr = run_export(["--checkpoint", ckpt, "--out", out] + TINY_FLAGS)
        self.assertEqual(code, 0, stderr)
        self.assertIn("model id 'bundle-a' (from the folder name; --name sets another)", stdout)
        self.assertEqual(check_bundle(out)["name"], "bundle-a")
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertEqual(json.load(f)["name"], "bundle-a")

    def test_unusable_names_are_refused_before_any_work(self):
        # A full-size random export would take minutes: a prompt refusal shows nothing ran.
        for args, message in ((["--out", os.path.join(self.tmp.name, "___")], "pass --name"),
                              (["--out", os.path.join(self.tmp.name, "ok"), "--name", "My Model"],
                               "--name 'My Model' is not a model id")):
            with self.subTest(args=args):
                started = time.monotonic()
                code, _, stderr = run_export(["--random-init", "--preset", "toklip-l-384"] + args)
                self.assertEqual(code, 1)
                self.assertIn(message, stderr)
                self.assertLess(time.monotonic() - started, 5)
                self.assertFalse(os.path.exists(args[1]), "nothing may be written")


if __name__ == "__main__":
    unittest.main()
