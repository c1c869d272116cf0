import unittest

import numpy as np
import torch

from toklip_export.vq import VQModel
from toklip_train import diagnose_drawn as DD
from toklip_train import drawn_set as D
from toklip_train.recipe import BROAD_SMOKE


class RegionsTest(unittest.TestCase):
    def test_a_square_splits_into_its_outline_band_inside_and_background(self):
        picture = np.full((32, 32, 3), 255, np.uint8)
        picture[8:24, 8:24] = (255, 0, 0)
        masks = DD.regions(picture)
        total = sum(m.astype(int) for m in masks.values())
        np.testing.assert_array_equal(total, np.ones((32, 32), int))  # a partition of the frame
        self.assertTrue(masks["edge"][8, 8] and masks["edge"][7, 16] and masks["edge"][10, 16])
        # the band reaches EDGE_PX px into the square (rows 8-10) and out of it (rows 5-7)
        self.assertTrue(masks["inside"][11, 16] and not masks["inside"][10, 16])
        self.assertTrue(masks["background"][4, 16] and masks["edge"][5, 16])
        self.assertEqual(int(masks["inside"].sum()), (16 - 2 * DD.EDGE_PX) ** 2)


class DiagnoseTest(unittest.TestCase):
    def test_report_on_a_random_vq(self):
        torch.manual_seed(0)
        vq = VQModel(BROAD_SMOKE.model.vq).eval()
        report = DD.diagnose(vq, D.SIZE // BROAD_SMOKE.model.vq.downsample_factor)
        self.assertEqual(report["pictures"], sum(1 for item in D.drawn_set() if item.format == "png"))
        self.assertAlmostEqual(sum(report["error_share"].values()), 1.0, places=2)
        blur = list(report["blur_psnr"].values())
        self.assertEqual(blur, sorted(blur, reverse=True))  # more blur, less PSNR
        self.assertGreater(blur[0], 30.0)
        self.assertLess(report["psnr_served"], 15.0)  # an untrained VQ reconstructs nothing
        self.assertEqual(set(report["inside_psnr_by_colour"]), set(D.COLOURS))


if __name__ == "__main__":
    unittest.main()
