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
        text = model_card._left_to_try(memorised)
        self.assertIn("(95.0 % against 45.4 % held-out", text)
        self.assertIn("more training scenes", text)

    def test_a_model_that_memorised_still_gets_the_codes_bound(self):
        diagnosis = dict(HELD_OUT_ONLY, zero_shot_train={"shape_acc": 0.659}, cnn_on_codes={"1000": 0.768},
                         cnn_on_codes_by_size={"small": 0.434, "large": 0.979, "medium": 0.78},
                         cnn_on_codes_train_acc=0.974)
        text = model_card._left_to_try(diagnosis)
        self.assertIn("is higher (65.9 % against 45.4 % held-out", text)
        self.assertIn("reaches 76.8 % held-out after 1000 steps", text)


class RecipeHistory(unittest.TestCase):
    def test_every_earlier_version_then_this_run(self):
        text = model_card._recipe_history(0.712, {"train_scenes": 40_000})
        self.assertIn("39.0 % (contrastive stage B alone), 41.6 % (+ hard-negative captions), ", text)
        self.assertIn("54.4 % (+ 5000 stage-B steps instead of 3000), 64.2 % (+ per-token shape labels, an "
                      "auxiliary loss of weight 0.5), then 71.2 % in this run (+ 40k training scenes instead "
                      "of 10k)", text)
        self.assertIn("none reaches the floor", text)

    def test_a_run_without_a_new_change_is_refused(self):
        with self.assertRaises(ValueError):
            model_card._recipe_history(0.5, {"train_scenes": 10_000})


class PerShape(unittest.TestCase):
    def test_per_shape_and_size_from_the_confusion_matrix(self):
        zero_shot = {"confusion": {"circle": [48, 18, 0, 22, 8], "square": [45, 13, 2, 29, 3],
                                   "triangle": [9, 1, 64, 27, 4], "star": [18, 5, 10, 57, 2],
                                   "ring": [4, 1, 4, 16, 90]},
                     "acc_by_size": {"small": 0.24, "large": 0.613, "medium": 0.689}}
        text = model_card._per_shape({"zero_shot": zero_shot})
        self.assertIn("by shape: ring 78.3 %, star 62.0 %, triangle 61.0 %, circle 50.0 %, square 14.1 % "
                      "(squares mostly taken for circles or stars)", text)
        self.assertIn("by size: medium 68.9 %, large 61.3 %, small 24.0 %", text)

    def test_without_a_diagnosis_it_names_the_weak_size_only(self):
        self.assertIn("small shapes", model_card._per_shape(None))


if __name__ == "__main__":
    unittest.main()
