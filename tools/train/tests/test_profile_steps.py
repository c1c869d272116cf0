import contextlib
import io
import re
import unittest

from toklip_train import profile_steps


class KindsTest(unittest.TestCase):
    def test_operators_fall_into_their_kind(self):
        self.assertEqual(profile_steps.kind_of("aten::convolution_backward"), "convolution")
        self.assertEqual(profile_steps.kind_of("aten::mkldnn_convolution"), "convolution")
        self.assertEqual(profile_steps.kind_of("aten::bmm"), "matrix product")
        self.assertEqual(profile_steps.kind_of("aten::mm"), "matrix product")
        self.assertEqual(profile_steps.kind_of("aten::native_group_norm_backward"), "normalisation")
        self.assertEqual(profile_steps.kind_of("aten::gelu_backward"), "activation")
        self.assertEqual(profile_steps.kind_of("aten::_to_copy"), "copy and layout")
        self.assertEqual(profile_steps.kind_of("aten::sum"), "other")


class SmokeRecipeTest(unittest.TestCase):
    def test_each_stage_reports_its_step_time_and_shares(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            profile_steps.main(["--recipe", "smoke", "--stages", "a", "a3", "b", "--warmup", "1", "--steps", "1",
                                "--profiled", "1", "--top", "3"])
        text = out.getvalue()
        for stage, batch in (("A", 2), ("A3", 2), ("B", 8)):
            self.assertRegex(text, rf"stage {stage}: \d+\.\d+ s a step of {batch} scenes")
        shares = re.findall(r"^  (convolution .*)$", text, re.M)
        self.assertEqual(len(shares), 3)
        for line in shares:
            total = sum(int(n) for n in re.findall(r"(\d+) %", line))
            self.assertTrue(97 <= total <= 103, line)  # whole percentages, rounded
        rates = re.findall(r"^  arithmetic rate: (.*)$", text, re.M)
        self.assertEqual(len(rates), 3)
        self.assertRegex(rates[0], r"aten::conv2d \d+\.\d GFLOP at \d+ GFLOP/s")
        # the VQ's step is mostly convolution, the towers' is not
        conv = [int(re.match(r"convolution (\d+) %", line).group(1)) for line in shares]
        self.assertGreater(conv[0], 30)
        self.assertGreater(conv[0], conv[2])


if __name__ == "__main__":
    unittest.main()
