"""A continuation recipe (continued.py) on a smoke-sized predecessor bundle: stage by stage or in
one go gives the same model, the predecessor's towers and words carry over, new words start fresh."""
import dataclasses
import json
import tempfile
import unittest
from pathlib import Path

import torch

from toklip_export.bundle import ExportOptions, write_bundle
from toklip_export.convert import LoadedModel
from toklip_train import continued
from toklip_train.contrastive import init_towers
from toklip_train.networks import TokLIP, VQModel
from toklip_train.recipe import BROAD_SMOKE, SMOKE
from toklip_train.recover import recover
from toklip_train.tokenizer import VOCAB, tokenizer_json
from toklip_train.vq_training import init_vq

torch.set_num_threads(2)
QUIET = lambda m: None  # noqa: E731
NEW_WORD = "outlined"


def predecessor_bundle(folder: Path) -> Path:
    """A random smoke model whose vocabulary lacks NEW_WORD, exported as a bundle."""
    old_vocab = {}
    for word in VOCAB:
        if word != NEW_WORD:
            old_vocab[word] = len(old_vocab)
    cfg = dataclasses.replace(SMOKE.model, text=dataclasses.replace(SMOKE.model.text, vocab_size=len(old_vocab)))
    model = TokLIP(cfg)
    init_towers(model, 5)
    init_vq(model.trunk.vq, 5)
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json(old_vocab)))
    bundle = folder / "bundle"
    write_bundle(LoadedModel(model.eval(), cfg), str(bundle),
                 ExportOptions(name="toklip-smoke", tokenizer=str(folder / "tokenizer.json"), log=QUIET))
    return bundle


class ContinuationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = Path(cls.tmp.name)
        cls.bundle = predecessor_bundle(root)
        cls.staged, cls.whole = root / "staged", root / "whole"
        for until in ("vq_broad", "vq_shape", "towers"):  # one invocation per stage
            continued.run(BROAD_SMOKE, cls.staged, predecessor=cls.bundle, seed=0, log=QUIET, until=until)
        cls.ran_whole = continued.run(BROAD_SMOKE, cls.whole, predecessor=cls.bundle, seed=0, log=QUIET)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_stage_by_stage_equals_one_go(self):
        self.assertEqual(self.ran_whole, list(continued.STAGES))
        a = torch.load(self.staged / "toklip.pt")["state_dict"]
        b = torch.load(self.whole / "toklip.pt")["state_dict"]
        self.assertEqual(a.keys(), b.keys())
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)

    def test_the_tokenizer_has_the_new_word(self):
        vocab = json.loads((self.whole / "tokenizer.json").read_text())["model"]["vocab"]
        self.assertEqual(vocab, VOCAB)
        self.assertIn(NEW_WORD, vocab)

    def test_a_finished_run_runs_nothing_again(self):
        self.assertEqual(continued.run(BROAD_SMOKE, self.whole, predecessor=self.bundle, seed=0, log=QUIET), [])

    def test_metrics_record_every_stage_and_both_held_out_sets(self):
        metrics = json.loads((self.whole / "metrics.json").read_text())
        self.assertEqual(list(metrics["vq_stages"]), ["predecessor", "vq_broad", "vq_shape"])
        self.assertEqual(metrics["predecessor"]["bundle"], "toklip-smoke")
        for key in ("heldout", "heldout_broad"):
            self.assertIn("zero_shot_shape_acc", metrics[key])
            self.assertIn("psnr_mean", metrics[key])
        self.assertGreater(metrics["vq_stages"]["vq_shape"]["cpu_s"], 0)
        self.assertIn("stage_b_contrastive", metrics["times"])

    def test_the_new_codebook_has_the_recipes_size(self):
        vq, _ = continued.load_stage_vq(self.whole, "vq_shape", BROAD_SMOKE)
        self.assertEqual(vq.quantize.embedding.weight.shape[0], BROAD_SMOKE.model.vq.codebook_size)


class TowersStartTest(unittest.TestCase):
    def test_words_keep_their_rows_and_new_words_start_fresh(self):
        with tempfile.TemporaryDirectory() as tmp:
            bundle = predecessor_bundle(Path(tmp))
            old, report = recover(bundle, token_mlp_steps=5, log=QUIET)
        new = continued.towers_start(old, report["vocab"], VQModel(BROAD_SMOKE.model.vq), BROAD_SMOKE, seed=0)
        old_rows, new_rows = old.text.token_embedding.weight, new.text.token_embedding.weight
        for word in ("red", "circle", "and"):
            torch.testing.assert_close(new_rows[VOCAB[word]], old_rows[report["vocab"][word]], rtol=0, atol=0)
        self.assertNotIn(NEW_WORD, report["vocab"])
        fresh = new_rows[VOCAB[NEW_WORD]]
        self.assertLess(float(fresh.abs().max()), 0.2)  # init_towers' normal(0, 0.02)
        torch.testing.assert_close(new.text.positional_embedding, old.text.positional_embedding, rtol=0, atol=0)
        torch.testing.assert_close(new.trunk.pos_embed, old.trunk.pos_embed, rtol=0, atol=0)

    def test_recovery_repeats_whatever_the_global_generator_held(self):
        # the token MLP is not in the bundle: its start must come from the seed, not from the
        # state earlier code left the global generator in
        with tempfile.TemporaryDirectory() as tmp:
            bundle = predecessor_bundle(Path(tmp))
            models = []
            for state in (1, 2):
                torch.manual_seed(state)
                models.append(recover(bundle, token_mlp_steps=5, log=QUIET)[0])
        a, b = (dict(m.trunk.named_parameters()) for m in models)
        for key in ("vq_table.weight", "vq_mapping.weight"):
            self.assertIn(key, a)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


if __name__ == "__main__":
    unittest.main()
