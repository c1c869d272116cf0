import unittest
from dataclasses import replace

import torch

from toklip_train import scenes as S
from toklip_train.captions import describes, parse_caption, without_position
from toklip_train.contrastive import ContrastiveTrainer
from toklip_train.recipe import SMOKE
from toklip_train.token_labels import IGNORE
from toklip_train.token_shift import random_shifts, shape_boxes, shift_grid

from .stage_b_inputs import smoke_stage_b

GRID = 8


def labels_with_box(r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
    labels = torch.full((GRID, GRID), IGNORE)
    labels[r0:r1 + 1, c0:c1 + 1] = S.SHAPES.index("star")
    return labels.view(1, -1)


class ShiftGridTest(unittest.TestCase):
    def test_each_row_is_rolled_by_its_own_offset(self):
        x = torch.arange(3 * GRID * GRID).view(3, -1)
        dy, dx = torch.tensor([0, 2, -3]), torch.tensor([1, -1, 5])
        out = shift_grid(x, dy, dx, GRID)
        for row in range(3):
            expected = torch.roll(x[row].view(GRID, GRID), shifts=(int(dy[row]), int(dx[row])), dims=(0, 1))
            torch.testing.assert_close(out[row].view(GRID, GRID), expected, rtol=0, atol=0)

    def test_boxes_span_the_labelled_tokens_or_the_whole_grid(self):
        labels = torch.cat([labels_with_box(2, 5, 1, 3), torch.full((1, GRID * GRID), IGNORE)])
        self.assertEqual(shape_boxes(labels, GRID).tolist(), [[2, 5, 1, 3], [0, 7, 0, 7]])

    def test_offsets_keep_shapes_inside_and_off_the_edges_they_were_off(self):
        gen = torch.Generator().manual_seed(0)
        inner = torch.tensor([[2, 5, 2, 5]] * 400)
        dy, dx = random_shifts(inner, GRID, gen)
        self.assertEqual(sorted(set(dy.tolist())), [-1, 0, 1])  # rows 1..6: every offset drawn
        self.assertEqual(sorted(set(dx.tolist())), [-1, 0, 1])
        # a shape on the top and right edges may stay there or move in, never past the far margin
        corner = torch.tensor([[0, 3, 4, 7]] * 400)
        dy, dx = random_shifts(corner, GRID, gen)
        self.assertEqual(sorted(set(dy.tolist())), [0, 1, 2, 3])
        self.assertEqual(sorted(set(dx.tolist())), [-3, -2, -1, 0])
        # no wrap-around: the shifted labels are the box moved by the offset
        labels = labels_with_box(0, 3, 4, 7)
        for y, x in zip(dy[:20].tolist(), dx[:20].tolist()):
            moved = shift_grid(labels, torch.tensor([y]), torch.tensor([x]), GRID)
            self.assertEqual(shape_boxes(moved, GRID).tolist(), [[y, 3 + y, 4 + x, 7 + x]])


class ShiftedBatchTest(unittest.TestCase):
    def test_a_fraction_of_the_batch_moves_with_its_labels_and_loses_its_positions(self):
        model, scenes, ids, order = smoke_stage_b()
        cfg = replace(SMOKE.contrastive, batch_size=8, shift_fraction=0.5, token_distill_weight=0.0)
        trainer = ContrastiveTrainer(model, cfg, ids, scenes, seed=0, log=lambda m: None)
        index = torch.from_numpy(order)
        moved_any = False
        for _ in range(5):
            new_ids, new_labels, count = trainer.shifted_batch(index)
            self.assertEqual(count, 4)
            torch.testing.assert_close(new_ids[4:], ids[4:], rtol=0, atol=0)
            for row in range(4):  # one offset explains both the ids and the labels of a shifted scene
                offsets = [(y, x) for y in range(-GRID + 1, GRID) for x in range(-GRID + 1, GRID)
                           if torch.equal(shift_grid(ids[row:row + 1], torch.tensor([y]), torch.tensor([x]), GRID),
                                          new_ids[row:row + 1])]
                self.assertTrue(any(torch.equal(shift_grid(trainer.token_labels[row:row + 1], torch.tensor([y]),
                                                           torch.tensor([x]), GRID), new_labels[row:row + 1])
                                    for y, x in offsets))
                moved_any |= not torch.equal(new_ids[row], ids[row])
        self.assertTrue(moved_any)
        phrases = [parse_caption(c) for c in trainer.captions(scenes, 4)]
        self.assertTrue(all(p[3] is None for caption in phrases[:4] for p in caption))
        self.assertTrue(all(describes(p, sc) for p, sc in zip(phrases, scenes)))
        self.assertIn("loss", trainer.step(0, order))
        without = ContrastiveTrainer(model, replace(cfg, shift_fraction=0.0), ids, scenes, seed=0, log=lambda m: None)
        self.assertEqual(without.shifted_batch(index)[2], 0)

    def test_a_shifted_scene_keeps_its_caption_without_positions(self):
        self.assertEqual(without_position("a large red circle on the left and a small blue star at the bottom right"),
                         "a large red circle and a small blue star")
        self.assertEqual(without_position("a green ring"), "a green ring")


if __name__ == "__main__":
    unittest.main()
