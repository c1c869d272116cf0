import unittest
from dataclasses import replace

import numpy as np
import torch

from toklip_train import scenes as S
from toklip_train.contrastive import ContrastiveTrainer
from toklip_train.networks import TokLIP
from toklip_train.recipe import SMOKE

from .stage_b_inputs import smoke_stage_b
from toklip_train.token_distill import CodeTeacher, TeacherConfig

torch.set_num_threads(2)
GRID = 8


def codebook(size: int = 32, dim: int = 8) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(size, dim, generator=torch.Generator().manual_seed(0)), dim=1)


def shape_coded(scenes):
    """Ids that spell each scene's (single) shape: every token is the shape's index."""
    return torch.tensor([[S.SHAPES.index(sc.shapes[0].shape)] * GRID * GRID for sc in scenes])


class CodeTeacherTest(unittest.TestCase):
    def test_targets_are_unit_vectors_per_token_in_raster_order(self):
        teacher = CodeTeacher(codebook(), seed=0)
        ids = torch.randint(32, (2, GRID * GRID), generator=torch.Generator().manual_seed(1))
        targets = teacher.targets(ids)
        self.assertEqual(tuple(targets.shape), (2, GRID * GRID, teacher.channels))
        torch.testing.assert_close(targets.norm(dim=-1), torch.ones(2, GRID * GRID))
        # three 3x3 convolutions: a token's target sees the codes at most 3 rows/columns away, so
        # changing the code at row 1, column 2 moves exactly the targets of tokens within that square
        changed = ids.clone()
        changed[:, 1 * GRID + 2] = (changed[:, 1 * GRID + 2] + 1) % 32
        moved = (teacher.targets(changed) - targets).abs().amax(dim=(0, 2)).view(GRID, GRID) > 0
        rows, cols = torch.meshgrid(torch.arange(GRID), torch.arange(GRID), indexing="ij")
        near = ((rows - 1).abs() <= 3) & ((cols - 2).abs() <= 3)
        self.assertTrue(moved[1, 2])
        self.assertFalse((moved & ~near).any())

    def test_fit_learns_shapes_from_the_codes_then_freezes(self):
        scenes = [S.scene("train", i, 0, num_shapes=1) for i in range(60)]
        teacher = CodeTeacher(codebook(), seed=0)
        before = teacher.shape_accuracy(shape_coded(scenes), [sc.shapes[0].shape for sc in scenes])
        loss = teacher.fit(shape_coded(scenes), scenes, TeacherConfig(steps=150, batch_size=32), seed=0,
                           log=lambda m: None)
        self.assertLess(loss, 0.2)
        self.assertEqual(teacher.shape_accuracy(shape_coded(scenes), [sc.shapes[0].shape for sc in scenes]), 1.0)
        self.assertLess(before, 1.0)
        self.assertFalse(any(p.requires_grad for p in teacher.parameters()))


class DistillLossTest(unittest.TestCase):
    def test_stage_b_fits_the_teacher_features_and_keeps_head_and_teacher_out_of_the_checkpoint(self):
        model, scenes, ids, order = smoke_stage_b()
        cfg = replace(SMOKE.contrastive, steps=60, batch_size=8, lr=1e-2, warmup=1, token_shape_weight=0.0,
                      token_distill_weight=1.0, teacher=TeacherConfig(steps=20, batch_size=8))
        trainer = ContrastiveTrainer(model, cfg, ids, scenes, seed=0, log=lambda m: None)
        teacher_state = {k: v.clone() for k, v in trainer.teacher.state_dict().items()}
        losses = [trainer.step(step, order)["distill_loss"] for step in range(cfg.steps)]
        self.assertLess(np.mean(losses[-5:]), 0.5 * losses[0])
        for k, v in trainer.teacher.state_dict().items():
            torch.testing.assert_close(v, teacher_state[k], rtol=0, atol=0, msg=k)
        self.assertFalse(any("distill" in key or "teacher" in key for key in model.state_dict()))
        without = ContrastiveTrainer(TokLIP(SMOKE.model), replace(cfg, token_distill_weight=0.0), ids, scenes,
                                     seed=0, log=lambda m: None)
        self.assertIsNone(without.teacher)
        self.assertNotIn("distill_loss", without.step(0, order))


if __name__ == "__main__":
    unittest.main()
