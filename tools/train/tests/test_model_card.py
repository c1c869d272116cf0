"""The model card's Known gaps follow diagnose_shape.py's figures."""
import unittest

import model_card

HELD_OUT_ONLY = {"zero_shot": {"shape_acc": 0.454}, "zero_shot_train": {"shape_acc": 0.498},
                 "train_single_shape_scenes": 4942}


class LeftToTry(unittest.TestCase):
    def test_without_the_cnn_figures_by_size_it_names_the_vit_changes(self):
        text = model_card._left_to_try(HELD_OUT_ONLY)
        self.assertIn("(49.8 % against 45.4 % held-out", text)
        self.assertIn("a wider ViT", text)
        self.assertNotIn("CNN", text)

    def test_the_cnn_on_codes_says_what_the_codes_allow_by_size(self):
        diagnosis = dict(HELD_OUT_ONLY, cnn_on_codes={"500": 0.7, "1000": 0.768},
                         cnn_on_codes_by_size={"small": 0.434, "large": 0.979, "medium": 0.78},
                         cnn_on_codes_train_acc=0.974)
        text = model_card._left_to_try(diagnosis)
        # The last step's figure (not the last in string order), sizes from best to worst.
        self.assertIn("reaches 76.8 % held-out after 1000 steps (large 97.9 %, medium 78.0 %, small 43.4 %)", text)
        self.assertIn("fitting 97.4 % of its 4942 training scenes", text)
        self.assertIn("a VQ that keeps small-shape detail", text)

    def test_a_model_that_memorised_gets_the_general_advice(self):
        memorised = dict(HELD_OUT_ONLY, zero_shot_train={"shape_acc": 0.95})
        self.assertIn("more training scenes", model_card._left_to_try(memorised))


if __name__ == "__main__":
    unittest.main()
