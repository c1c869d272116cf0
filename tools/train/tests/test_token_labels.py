import math
import unittest
from dataclasses import replace

import numpy as np
import torch

from toklip_train import scenes as S
from toklip_train.contrastive import ContrastiveTrainer
from toklip_train.networks import TokLIP
from toklip_train.recipe import SMOKE

from .stage_b_inputs import smoke_stage_b
from toklip_train.token_labels import IGNORE, instance_balanced_weights, token_shape_labels

torch.set_num_threads(2)


def spec(shape: str, cx: float, cy: float, size: str = "large") -> S.ShapeSpec:
    return S.ShapeSpec("red", shape, size, "in the center", cx, cy, S.SIZES[size], S.COLOURS["red"])


def scene_of(*shapes: S.ShapeSpec) -> S.Scene:
    return replace(S.scene("train", 0, 0), shapes=shapes)


class TokenShapeLabelsTest(unittest.TestCase):
    def test_a_centred_square_labels_the_patches_it_covers(self):
        # half-extent 0.86 * 24 = 20.6 px around 64: pixels 43.4-84.6, i.e. 29 % of patches 2
        # and 5 and all of 3 and 4 on each axis; the corner patches (2, 2) etc. get 8 %: ignored
        labels = token_shape_labels([scene_of(spec("square", 64, 64))], grid=8)[0].view(8, 8)
        expected = torch.full((8, 8), IGNORE)
        expected[2:6, 2:6] = S.SHAPES.index("square")
        expected[2:6:3, 2:6:3] = IGNORE
        torch.testing.assert_close(labels, expected, rtol=0, atol=0)

    def test_each_shape_labels_its_own_patches_and_slivers_are_ignored(self):
        scene = scene_of(spec("star", 28, 28), spec("ring", 100, 100, "medium"))
        labels = token_shape_labels([scene], grid=8)[0].view(8, 8)
        self.assertEqual(set(labels[:4, :4].unique().tolist()), {IGNORE, S.SHAPES.index("star")})
        self.assertEqual(set(labels[4:, 4:].unique().tolist()), {IGNORE, S.SHAPES.index("ring")})
        self.assertTrue((labels[:4, 4:] == IGNORE).all() and (labels[4:, :4] == IGNORE).all())
        # a higher coverage threshold keeps a subset of the same labels
        strict = token_shape_labels([scene], grid=8, min_coverage=0.6)[0].view(8, 8)
        kept = strict != IGNORE
        self.assertLess(int(kept.sum()), int((labels != IGNORE).sum()))
        torch.testing.assert_close(strict[kept], labels[kept], rtol=0, atol=0)


class InstanceBalancedWeightsTest(unittest.TestCase):
    def test_a_large_and_a_small_shape_weigh_the_same(self):
        scene = scene_of(spec("square", 56, 56, "large"), spec("ring", 100, 100, "small"))
        labels = token_shape_labels([scene], grid=8)
        weights = instance_balanced_weights(labels)[0]
        square, ring = (labels[0] == S.SHAPES.index(n) for n in ("square", "ring"))
        self.assertGreater(int(square.sum()), 2 * int(ring.sum()))  # the premise: unequal token counts
        self.assertAlmostEqual(float(weights[square].sum()), 1.0, places=6)
        self.assertAlmostEqual(float(weights[ring].sum()), 1.0, places=6)
        self.assertTrue((weights[labels[0] == IGNORE] == 0).all())
        # within a shape every token weighs the same: 1 / its token count
        torch.testing.assert_close(weights[ring], torch.full((int(ring.sum()),), 1 / int(ring.sum())))

    def test_scenes_are_weighed_independently(self):
        labels = torch.tensor([[IGNORE, 0, 0, 0, 2, IGNORE], [1, 1, IGNORE, IGNORE, 0, IGNORE]])
        expected = torch.tensor([[0, 1 / 3, 1 / 3, 1 / 3, 1, 0], [0.5, 0.5, 0, 0, 1, 0]])
        torch.testing.assert_close(instance_balanced_weights(labels), expected)


class TokenShapeLossTest(unittest.TestCase):
    def test_auxiliary_head_learns_the_labels_and_stays_out_of_the_checkpoint(self):
        model, scenes, ids, order = smoke_stage_b()
        cfg = replace(SMOKE.contrastive, steps=60, batch_size=8, lr=1e-2, warmup=1, token_shape_weight=1.0)
        trainer = ContrastiveTrainer(model, cfg, ids, scenes, seed=0, log=lambda m: None)
        losses = [trainer.step(step, order)["token_loss"] for step in range(cfg.steps)]
        self.assertAlmostEqual(losses[0], math.log(len(S.SHAPES)), delta=0.3)
        self.assertLess(np.mean(losses[-5:]), 0.5 * losses[0])
        self.assertFalse(any("token_head" in key for key in model.state_dict()))
        without = ContrastiveTrainer(TokLIP(SMOKE.model), replace(cfg, token_shape_weight=0.0), ids, scenes,
                                     seed=0, log=lambda m: None)
        self.assertNotIn("token_loss", without.step(0, order))

    def test_balanced_loss_is_the_shape_weighted_mean_and_also_learns(self):
        model, scenes, ids, order = smoke_stage_b()
        cfg = replace(SMOKE.contrastive, steps=60, batch_size=8, lr=1e-2, warmup=1, token_shape_weight=1.0,
                      token_shape_balance=True, shift_fraction=0.0)
        trainer = ContrastiveTrainer(model, cfg, ids, scenes, seed=0, log=lambda m: None)
        labels = trainer.token_labels[:8]
        with torch.no_grad():
            features = model.trunk.encode_ids(ids[:8])[0]
            per_token = torch.nn.functional.cross_entropy(trainer.token_head(features).flatten(0, 1),
                                                          labels.flatten().clamp(min=0), reduction="none")
            kept = labels.flatten() != IGNORE
            # by hand: the mean over (scene, shape) groups of each group's mean token loss
            groups = [per_token[(labels.flatten() == k) & (torch.arange(labels.numel()) // labels.shape[1] == b)]
                      for b in range(8) for k in range(len(S.SHAPES))]
            by_hand = torch.stack([g.mean() for g in groups if len(g)]).mean()
            self.assertAlmostEqual(float(trainer.token_loss(features, labels)), float(by_hand), places=5)
            plain = replace(cfg, token_shape_balance=False)
            trainer.cfg = plain
            self.assertAlmostEqual(float(trainer.token_loss(features, labels)), float(per_token[kept].mean()), places=5)
            trainer.cfg = cfg
        losses = [trainer.step(step, order)["token_loss"] for step in range(cfg.steps)]
        self.assertLess(np.mean(losses[-5:]), 0.5 * losses[0])


if __name__ == "__main__":
    unittest.main()
