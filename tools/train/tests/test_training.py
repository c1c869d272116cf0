import dataclasses
import json
import math
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

from toklip_train import scenes as S
from toklip_train.captions import describes, format_caption, parse_caption, positives, swap_attribute
from toklip_train.contrastive import scale_at
from toklip_train.networks import TokLIP
from toklip_train.onnx_ids import encode_ids_onnx
from toklip_train.pipeline import encode_ids, run, training_ids
from toklip_train.next_token import NextTokenConfig, pretrain_next_token
from toklip_train.recipe import FULL, SMOKE
from toklip_train.vq_stages import load_vq, save_vq, stages_of_run, train_vq
from toklip_train.broad_scenes import broad_scene
from toklip_train.code_cnn import shapes_present
from toklip_train.pictures import picture
from toklip_train.data import render, scene_batch
from toklip_train.vq_training import VQTrainer, lr_at, object_weights, weighted_mean
from toklip_export.convert import infer_config, load_toklip

torch.set_num_threads(2)


class CaptionTest(unittest.TestCase):
    def test_parse(self):
        self.assertEqual(parse_caption("a large red circle on the left and a blue star"),
                         [("red", "circle", "large", "on the left", False), ("blue", "star", None, None, False)])
        self.assertEqual(parse_caption("a small green outlined square at the top"),
                         [("green", "square", "small", "at the top", True)])
        with self.assertRaises(ValueError):
            parse_caption("a outlined green square")  # the colour comes before "outlined"
        with self.assertRaises(ValueError):
            parse_caption("a photo of a cat")

    def test_positives_are_multi_positive_and_order_free(self):
        sc = S.scene("train", 0, 0, num_shapes=2)
        a, b = sc.shapes
        swapped = f"{b.phrase()} and {a.phrase()}"
        partial = f"{a.phrase(size=False, position=False)} and {b.phrase(position=False)}"
        self.assertTrue(describes(parse_caption(swapped), sc))
        self.assertTrue(describes(parse_caption(partial), sc))
        self.assertFalse(describes(parse_caption(a.phrase()), sc))  # one phrase, two shapes
        wrong = b.phrase().replace(b.colour, next(c for c in S.COLOURS if c != b.colour), 1)
        self.assertFalse(describes(parse_caption(f"{a.phrase()} and {wrong}"), sc))
        rng = np.random.default_rng(0)
        scenes = [S.scene("train", i, 0) for i in range(32)]
        pos = positives([s.caption_variant(rng) for s in scenes], scenes)
        self.assertTrue(pos.diagonal().all())

    def test_format_inverts_parse(self):
        for text in ("a large red circle on the left and a blue star", "a white ring at the top right",
                     "a small black outlined triangle and a medium cyan ring"):
            self.assertEqual(format_caption(parse_caption(text)), text)

    def test_swapped_captions_are_negatives_differing_in_one_attribute(self):
        rng = np.random.default_rng(0)
        scenes = [S.scene("train", i, 0) for i in range(64)]
        for attribute, slot in (("shape", 1), ("colour", 0)):
            for sc in scenes:
                caption = sc.caption_variant(rng)
                swapped = swap_attribute(caption, attribute, rng)
                self.assertFalse(describes(parse_caption(swapped), sc), (caption, swapped))
                diffs = [(a, b) for pa, pb in zip(parse_caption(caption), parse_caption(swapped))
                         for i, (a, b) in enumerate(zip(pa, pb)) if a != b]
                self.assertEqual(len(diffs), 1)
                self.assertIn(diffs[0][1], S.SHAPES if slot == 1 else S.COLOURS)

    def test_schedules(self):
        cfg = FULL.contrastive
        self.assertAlmostEqual(scale_at(cfg.steps - 1, cfg), 100.0)
        self.assertAlmostEqual(scale_at(0, cfg), cfg.scale_start)
        self.assertLess(lr_at(0, cfg), lr_at(cfg.warmup, cfg))
        self.assertAlmostEqual(lr_at(cfg.steps, cfg), cfg.lr * cfg.min_lr_ratio)


class NextTokenTest(unittest.TestCase):
    def test_learns_a_sequence_rule_and_leaves_vq_and_pool_alone(self):
        # each row alternates two random codes (a b a b ...): token t+1 equals token t-1, which
        # only attention to earlier tokens can see, so the loss falls only if attention learns it
        model = TokLIP(SMOKE.model)
        n, k = model.config.vision.num_tokens, model.config.vq.codebook_size
        pairs = torch.from_numpy(np.random.default_rng(0).integers(k, size=(64, 2)))
        ids = pairs[:, torch.arange(n) % 2]
        frozen = {name: p.detach().clone() for name, p in model.trunk.named_parameters()
                  if name.startswith(("vq.", "attn_pool."))}
        cfg = NextTokenConfig(steps=200, batch_size=16, lr=5e-3, warmup=10, log_every=100)
        history = pretrain_next_token(model, cfg, ids, seed=0, log=lambda m: None)
        self.assertEqual([h["step"] for h in history], [100, 200])
        self.assertLess(history[-1]["loss"], 0.5 * math.log(k))
        for name, p in model.trunk.named_parameters():
            if name in frozen:
                torch.testing.assert_close(p, frozen[name], rtol=0, atol=0, msg=name)
        self.assertFalse(any("head" in key for key in model.state_dict()))

    def test_no_steps_no_change(self):
        model = TokLIP(SMOKE.model)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        self.assertEqual(pretrain_next_token(model, NextTokenConfig(steps=0), torch.zeros(2, 4, dtype=torch.long), seed=0), [])
        for k, v in model.state_dict().items():
            torch.testing.assert_close(v, before[k], rtol=0, atol=0)


class VQTrainerTest(unittest.TestCase):
    def test_same_seed_same_weights(self):
        def train():
            t = VQTrainer(SMOKE.model.vq, SMOKE.vq, seed=3, data_seed=3, log=lambda m: None)
            return t.train().state_dict()
        a, b = train(), train()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)

    def test_kmeans_codebook_and_dead_code_restarts(self):
        t = VQTrainer(SMOKE.model.vq, SMOKE.vq, seed=0, data_seed=0, log=lambda m: None)
        data = torch.nn.functional.normalize(torch.randn(500, 8), dim=-1)
        t.remember(data)
        t.init_codebook_kmeans()
        w = t.model.quantize.embedding.weight
        torch.testing.assert_close(w.norm(dim=1), torch.ones(len(w)))
        t.usage.zero_()
        t.usage[0] = 1.0
        self.assertEqual(t.restart_dead_codes(data), len(w) - 1)
        # restarted codes sit on encoder outputs
        self.assertGreater(float((w[1:] @ data.t()).max(dim=1).values.min()), 0.99)


    def test_object_weights_cover_the_shapes_and_their_margin(self):
        sc = next(sc for sc in (S.scene("train", i, 0, num_shapes=1) for i in range(50))
                  if sc.shapes[0].shape == "circle")
        shape = sc.shapes[0]
        w = object_weights([sc], 9.0, margin=0)[0, 0]
        cy, cx = int(shape.cy), int(shape.cx)
        self.assertAlmostEqual(float(w[cy, cx]), 10.0, places=4)  # inside the circle
        far_y, far_x = (0 if shape.cy > 64 else 127), (0 if shape.cx > 64 else 127)
        self.assertEqual(float(w[far_y, far_x]), 1.0)  # background
        covered = int((w > 1).sum())
        wider = object_weights([sc], 9.0, margin=3)[0, 0]
        self.assertGreater(int((wider > 1).sum()), covered)
        self.assertTrue(bool((wider >= w).all()))

    def test_weighted_mean(self):
        error = torch.rand(2, 3, 8, 8)
        torch.testing.assert_close(weighted_mean(error, None), error.mean())
        torch.testing.assert_close(weighted_mean(error, torch.full((2, 1, 8, 8), 5.0)), error.mean())
        weight = torch.ones(2, 1, 8, 8)
        weight[:, :, :4] = 1e6  # nearly all weight on the top half
        torch.testing.assert_close(weighted_mean(error, weight), error[:, :, :4].mean(), rtol=1e-4, atol=1e-4)

    def test_object_weighted_fine_tune_starts_from_the_given_vq(self):
        first = VQTrainer(SMOKE.model.vq, SMOKE.vq, seed=3, data_seed=3, log=lambda m: None).train()
        cfg = dataclasses.replace(SMOKE.vq, object_weight=4.0, continuous_steps=0, crop_steps=2)
        tuner = VQTrainer(SMOKE.model.vq, cfg, seed=5, data_seed=5, log=lambda m: None).start_from(first.state_dict())
        for k, v in first.state_dict().items():
            torch.testing.assert_close(tuner.model.state_dict()[k], v, rtol=0, atol=0, msg=k)
        self.assertTrue(bool((tuner.usage == 1).all()))  # no code counts as dead at the start
        tuned = tuner.train()
        moved = [k for k, v in first.state_dict().items() if not torch.equal(tuned.state_dict()[k], v)]
        self.assertIn("encoder.conv_in.weight", moved)
        self.assertTrue(all(math.isfinite(h["loss"]) for h in tuner.history))

    def test_small_shape_share_fills_part_of_each_batch_with_small_shapes(self):
        plain = VQTrainer(SMOKE.model.vq, SMOKE.vq, seed=0, data_seed=4, log=lambda m: None)
        for step in range(3):  # share 0: the stage's own stream, as before the option
            self.assertEqual([s.index for s in plain.scenes_for(step)],
                             [s.index for s in scene_batch("train", step * SMOKE.vq.batch_size,
                                                           SMOKE.vq.batch_size, 4)])
        cfg = dataclasses.replace(SMOKE.vq, batch_size=8, small_shape_share=0.5)
        runs = [VQTrainer(SMOKE.model.vq, cfg, seed=0, data_seed=4, log=lambda m: None) for _ in range(2)]
        seen = []
        for step in range(6):
            batch = runs[0].scenes_for(step)
            self.assertEqual(len(batch), 8)
            self.assertTrue(all(any(sh.size == "small" for sh in s.shapes) for s in batch[:4]))
            self.assertEqual([repr(s) for s in batch], [repr(s) for s in runs[1].scenes_for(step)])
            seen += [repr(s.shapes) for s in batch[:4]]
        self.assertEqual(len(set(seen)), len(seen))  # the small-shape stream never repeats a scene
        # the rest of the batch is the plain stream, not the same scenes shifted
        self.assertEqual([s.index for s in batch[4:]], [44, 45, 46, 47])


    def test_broad_scenes_and_pictures_take_the_end_of_each_batch(self):
        cfg = dataclasses.replace(SMOKE.vq, batch_size=8, small_shape_share=0.25, broad_per_batch=3, pictures_per_batch=2)
        t = VQTrainer(SMOKE.model.vq, cfg, seed=0, data_seed=4, log=lambda m: None)
        for step in range(2):
            batch = t.scenes_for(step)
            self.assertEqual(len(batch), 8)
            self.assertTrue(any(sh.size == "small" for sh in batch[0].shapes) and any(sh.size == "small" for sh in batch[1].shapes))
            self.assertEqual(batch[2].index, step * 8 + 2)  # the classic stream, as without the option
            self.assertEqual([s.index for s in batch[3:6]], [step * 3 + j for j in range(3)])
            self.assertEqual(batch[3:6], [broad_scene("train", step * 3 + j, 4) for j in range(3)])
            self.assertEqual(batch[6:], [picture(step * 2 + j, 4) for j in range(2)])
        with self.assertRaisesRegex(ValueError, "do not fit"):
            VQTrainer(SMOKE.model.vq, dataclasses.replace(cfg, pictures_per_batch=6), seed=0, data_seed=0)

    def test_pictures_weigh_one_everywhere_and_carry_no_shape_loss(self):
        weights = object_weights([picture(0, 0), S.scene("train", 0, 0)], 8.0, 2)
        self.assertEqual(float(weights[0].min()), 1.0)
        self.assertEqual(float(weights[0].max()), 1.0)
        self.assertEqual(float(weights[1].max()), 9.0)
        cfg = dataclasses.replace(SMOKE.vq_shape, batch_size=4, small_shape_share=0.0, pictures_per_batch=4)
        t = VQTrainer(SMOKE.model.vq, cfg, seed=0, data_seed=0, log=lambda m: None)
        out = t.step(0)  # a batch of pictures only: no scene, no shape loss term
        self.assertEqual(out["shape_bce"], 0.0)
        self.assertTrue(math.isfinite(out["loss"]))


class ShapeHeadTest(unittest.TestCase):
    """Stage A3's shape head: a CNN on the code grid names the scene's shapes."""

    def test_shapes_present_is_multi_label(self):
        two = next(sc for sc in (S.scene("train", i, 0) for i in range(50))
                   if len(sc.shapes) == 2 and sc.shapes[0].shape != sc.shapes[1].shape)
        targets = shapes_present([two, S.scene("train", 0, 0, num_shapes=1)])
        self.assertEqual(targets[0].sum().item(), 2.0)
        self.assertEqual(targets[1].sum().item(), 1.0)
        for shape in two.shapes:
            self.assertEqual(targets[0, S.SHAPES.index(shape.shape)].item(), 1.0)

    def test_warm_head_learns_shapes_from_frozen_codes_and_leaves_the_vq_alone(self):
        """Codes that are the shape's index: the head must learn to read them."""
        cfg = dataclasses.replace(SMOKE.vq_shape, shape_head_warm_steps=150, shape_head_warm_batch=32)
        t = VQTrainer(SMOKE.model.vq, cfg, seed=0, data_seed=0, log=lambda m: None)
        before = {k: v.clone() for k, v in t.model.state_dict().items()}
        scenes = [S.scene("train", i, 0, num_shapes=1) for i in range(60)]
        ids = torch.tensor([[S.SHAPES.index(sc.shapes[0].shape)] * 64 for sc in scenes])
        loss = t.warm_shape_head(ids, scenes)
        self.assertLess(loss, 0.2)
        for k, v in t.model.state_dict().items():
            torch.testing.assert_close(v, before[k], rtol=0, atol=0, msg=k)

    def test_joint_step_moves_the_encoder_through_the_shape_loss(self):
        t = VQTrainer(SMOKE.model.vq, SMOKE.vq_shape, seed=0, data_seed=0, log=lambda m: None)
        out = t.step(0)
        self.assertIn("shape_bce", out)
        self.assertTrue(math.isfinite(out["shape_bce"]))
        # only the shape loss: the encoder still gets a gradient, through the straight-through estimator
        batch = scene_batch("train", 0, 2, 0)
        quant = t.quantize(render(batch))[0]
        t.opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(t.shape_head(quant), shapes_present(batch)).backward()
        self.assertGreater(float(t.model.encoder.conv_in.weight.grad.abs().sum()), 0.0)

    def test_needs_whole_scenes(self):
        with self.assertRaisesRegex(ValueError, "whole scenes"):
            VQTrainer(SMOKE.model.vq, dataclasses.replace(SMOKE.vq_shape, crop=64, crop_steps=1), seed=0, data_seed=0)


class TrainingIdsTest(unittest.TestCase):
    def test_onnxruntime_ids_match_pytorch(self):
        """The exported vq_encoder run by onnxruntime-node gives PyTorch's ids (a near-tie may
        flip one; a layout or preprocessing error would change most)."""
        model = TokLIP(FULL.model)
        scenes = [S.scene("train", i, 0) for i in range(24)]
        ids = encode_ids_onnx(model.trunk.vq.eval(), scenes)
        self.assertEqual(tuple(ids.shape), (24, FULL.model.vision.num_tokens))
        self.assertGreaterEqual(float((ids == encode_ids(model, scenes)).float().mean()), 0.99)

    def test_cache_returns_the_encoded_ids_and_follows_the_vq(self):
        model = TokLIP(SMOKE.model)
        scenes = [S.scene("train", i, 0) for i in range(4)]
        with tempfile.TemporaryDirectory() as tmp:
            first = training_ids(model, scenes, Path(tmp), log=lambda m: None)
            torch.testing.assert_close(first, encode_ids_onnx(model.trunk.vq, scenes), rtol=0, atol=0)
            logged = []
            again = training_ids(model, scenes, Path(tmp), log=logged.append)
            self.assertEqual(len(logged), 1)
            self.assertIn("from the cache", logged[0])
            torch.testing.assert_close(again, first, rtol=0, atol=0)
            with torch.no_grad():
                model.trunk.vq.quantize.embedding.weight.mul_(-1.0)
            logged.clear()
            training_ids(model, scenes, Path(tmp), log=logged.append)
            self.assertEqual([m for m in logged if "cache" in m], [])  # other VQ weights: a new entry, not the old ids
            self.assertEqual(len(list(Path(tmp).iterdir())), 2)


class VQStagesTest(unittest.TestCase):
    """Stage A, then A2; a --vq-from file skips the stages its record names and keeps their record."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.images = torch.zeros(2, 3, S.IMAGE_SIZE, S.IMAGE_SIZE)

    def tearDown(self):
        self.tmp.cleanup()

    def train(self, out: str, **kw):
        (self.dir / out).mkdir()
        logged = []
        return train_vq(SMOKE, self.dir / out, seed=0, log=logged.append, eval_images=self.images, **kw), logged

    def test_from_scratch_runs_a_a2_a3_and_records_them(self):
        vq, _ = self.train("run")
        self.assertEqual(list(vq.stages), ["a", "a2", "a3"])
        for name, cfg in (("a", SMOKE.vq), ("a2", SMOKE.vq_object), ("a3", SMOKE.vq_shape)):
            self.assertEqual(vq.stages[name]["run"], str((self.dir / "run").resolve()))
            self.assertEqual(vq.stages[name]["config"], dataclasses.asdict(cfg))
            self.assertEqual(len(vq.histories[name]), cfg.steps // cfg.log_every)
        saved = load_vq(self.dir / "run" / "vq.pt")
        self.assertEqual(saved["stages"], vq.stages)
        for k, v in vq.model.state_dict().items():
            torch.testing.assert_close(saved["state_dict"][k], v, rtol=0, atol=0)

    def test_a_stage_a_file_gets_the_fine_tunes_and_a_finished_file_gets_nothing(self):
        first, _ = self.train("first")
        stage_a_only = self.dir / "stage-a.pt"
        save_vq(stage_a_only, first.model, {"a": first.stages["a"]})
        tuned, _ = self.train("tuned", vq_from=str(stage_a_only))
        self.assertEqual(tuned.stages["a"], first.stages["a"])
        self.assertEqual(tuned.stages["a2"]["run"], str((self.dir / "tuned").resolve()))
        self.assertEqual(list(tuned.histories), ["a2", "a3"])
        after_a2 = self.dir / "after-a2.pt"  # e.g. the shipped VQ recovered by vq_from_bundle.py
        save_vq(after_a2, first.model, {k: first.stages[k] for k in ("a", "a2")})
        shaped, _ = self.train("shaped", vq_from=str(after_a2))
        self.assertEqual(list(shaped.histories), ["a3"])
        self.assertEqual(shaped.stages["a2"], first.stages["a2"])
        again, logged = self.train("again", vq_from=str(self.dir / "tuned" / "vq.pt"))
        self.assertEqual(again.stages, tuned.stages)
        self.assertEqual(again.histories, {})
        self.assertIn("stages a, a2, a3 done", logged[0])
        for k, v in tuned.model.state_dict().items():
            torch.testing.assert_close(again.model.state_dict()[k], v, rtol=0, atol=0)

    def test_files_from_before_the_record_take_stage_a_times_from_their_run(self):
        legacy = self.dir / "old"
        legacy.mkdir()
        vq, _ = self.train("run")
        torch.save({"step": 8, "state_dict": vq.model.state_dict()}, legacy / "vq.pt")
        (legacy / "metrics.json").write_text(json.dumps({"times": {"stage_a_vq": {"wall_s": 60.0, "cpu_s": 90.0}}}))
        self.assertEqual(load_vq(legacy / "vq.pt")["stages"],
                         {"a": {"run": str(legacy.resolve()), "wall_s": 60.0, "cpu_s": 90.0}})
        self.assertEqual(stages_of_run({"vq_from": str(legacy / "vq.pt"), "times": {}}, self.dir / "later"),
                         load_vq(legacy / "vq.pt")["stages"])
        self.assertEqual(stages_of_run({"vq_stages": vq.stages}, self.dir / "run"), vq.stages)


class SmokeRunTest(unittest.TestCase):
    """The whole pipeline on the smoke recipe (seconds), then the exporter reads the checkpoint."""

    def test_smoke_run_writes_an_official_layout_checkpoint(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            metrics = run(SMOKE, out, seed=0, log=lambda m: None)
            for key in ("psnr_mean", "zero_shot_colour_acc", "zero_shot_shape_acc", "i2t_r1"):
                self.assertIn(key, metrics["heldout"])
            self.assertTrue(all(t["cpu_s"] >= 0 for t in metrics["times"].values()))
            written = json.loads((out / "metrics.json").read_text())
            self.assertEqual(written["recipe"], "smoke")
            self.assertEqual(list(written["vq_stages"]), ["a", "a2", "a3"])
            self.assertEqual(load_vq(out / "vq.pt")["stages"], written["vq_stages"])
            ckpt = torch.load(out / "toklip.pt", map_location="cpu")
            sd = ckpt["state_dict"]
            self.assertTrue(all(k.startswith("module.") for k in sd))
            self.assertNotIn("module.logit_bias", sd)
            self.assertAlmostEqual(float(sd["module.logit_scale"]), math.log(100.0), places=6)
            self.assertIn("module.visual.trunk.vq.quantize.embedding.weight", sd)
            cfg = infer_config({k[len("module."):]: v for k, v in sd.items()},
                               vision_heads=SMOKE.model.vision.heads, text_heads=SMOKE.model.text.heads,
                               norm_groups=SMOKE.model.vq.norm_groups)
            self.assertEqual(cfg.to_dict(), {**SMOKE.model.to_dict(), "logit_bias": True})
            loaded = load_toklip(str(out / "toklip.pt"), vision_heads=SMOKE.model.vision.heads,
                                 text_heads=SMOKE.model.text.heads, norm_groups=SMOKE.model.vq.norm_groups)
            self.assertEqual(loaded.config.image_size, S.IMAGE_SIZE)
            self.assertTrue((out / "tokenizer.json").is_file())


if __name__ == "__main__":
    unittest.main()
