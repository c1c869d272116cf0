"""The model card's Known gaps follow diagnose_shape.py's figures; its times cover every stage."""
import dataclasses
import json
import unittest
from pathlib import Path

from toklip_train import model_card
from toklip_train.evaluation import FLOORS
from toklip_train.recipe import FULL, SHAPE_AWARE_VQ

A2 = {"run": "/runs/vqw8", "wall_s": 1800.0, "cpu_s": 1200.0, "config": dataclasses.asdict(FULL.vq_object)}
A3 = {"run": "/runs/a3", "wall_s": 900.0, "cpu_s": 1500.0, "config": dataclasses.asdict(SHAPE_AWARE_VQ)}

HELD_OUT_ONLY = {"zero_shot": {"shape_acc": 0.454}, "zero_shot_train": {"shape_acc": 0.498},
                 "train_single_shape_scenes": 4942}


def with_cnn_probe(curve: dict, by_size: tuple, train_acc: float, **fields) -> dict:
    """HELD_OUT_ONLY plus diagnose_shape.py's CNN-on-codes figures (by_size: large, medium, small)."""
    return dict(HELD_OUT_ONLY, cnn_on_codes=curve, cnn_on_codes_train_acc=train_acc,
                cnn_on_codes_by_size=dict(zip(("large", "medium", "small"), by_size)),
                **fields)


class LeftToTry(unittest.TestCase):
    def test_without_the_cnn_figures_by_size_it_names_the_vit_changes(self):
        text = model_card._left_to_try(HELD_OUT_ONLY)
        self.assertIn("(49.8 % against 45.4 % held-out", text)
        self.assertIn("a wider ViT", text)
        self.assertNotIn("CNN", text)

    def test_the_cnn_on_codes_says_what_the_codes_allow_by_size(self):
        text = model_card._left_to_try(with_cnn_probe({"500": 0.7, "1000": 0.768}, (0.979, 0.78, 0.434), 0.974))
        # The last step's figure (not the last in string order), sizes from best to worst.
        self.assertIn("reaches 76.8 % held-out after 1000 steps (large 97.9 %, medium 78.0 %, small 43.4 %)", text)
        self.assertIn("fitting 97.4 % of its 4942 training scenes", text)
        self.assertIn("codes that keep more small-shape detail first", text)

    def test_codes_that_allow_the_floor_leave_the_vit(self):
        # 450 of 500 right, as float32 gives it: at the floor.
        text = model_card._left_to_try(with_cnn_probe({"1000": 0.8999999761581421}, (1.0, 0.876, 0.783), 0.945,
                                                      zero_shot_train={"shape_acc": 0.909}))
        self.assertIn("reaches 90.0 % held-out after 1000 steps (large 100.0 %, medium 87.6 %, small 78.3 %)", text)
        self.assertIn("the codes allow the floor, the token ViT does not read all of it out", text)
        self.assertIn("a wider ViT", text)
        self.assertNotIn("codes that keep more small-shape detail", text)

    def test_a_model_that_memorised_gets_the_general_advice(self):
        memorised = dict(HELD_OUT_ONLY, zero_shot_train={"shape_acc": 0.95})
        text = model_card._left_to_try(memorised)
        self.assertIn("(95.0 % against 45.4 % held-out", text)
        self.assertIn("more training scenes", text)

    def test_a_model_that_memorised_still_gets_the_codes_bound(self):
        text = model_card._left_to_try(with_cnn_probe({"1000": 0.768}, (0.979, 0.78, 0.434), 0.974,
                                                      zero_shot_train={"shape_acc": 0.659}))
        self.assertIn("is higher (65.9 % against 45.4 % held-out", text)
        self.assertIn("reaches 76.8 % held-out after 1000 steps", text)


class RecipeHistory(unittest.TestCase):
    DISTILL = {"contrastive": {"steps": 5000, "token_distill_weight": 1.0, "shift_fraction": 0.5}}
    JITTER = {"train_position_jitter": 8.0, "contrastive": {"steps": 5000}}

    def test_every_earlier_version_then_this_run(self):
        text = model_card._recipe_history(0.852, self.DISTILL)
        self.assertIn("39.0 % (contrastive stage B alone), 41.6 % (+ hard-negative captions), ", text)
        self.assertIn("54.4 % (+ 5000 stage-B steps instead of 3000), 64.2 % (+ per-token shape labels, an "
                      "auxiliary loss of weight 0.5), 70.4 % (+ 40k training scenes instead of 10k), 73.8 % (+ an "
                      "object-weighted VQ fine-tune, stage A2 (weight 8)), 80.6 % (+ a shape-aware VQ fine-tune, "
                      "stage A3 (shape weight 0.5)), 91.4 % (+ stage A3 on scenes that each hold a small shape, 1200 "
                      "steps instead of 800), then 85.2 % in this run (+ per-token distillation from a CNN teacher on "
                      "the codes (weight 1) and half of each batch on shifted token grids); the floor is 90.0 %.", text)

    def test_a_run_at_the_floor_is_not_called_short_of_it(self):
        text = model_card._recipe_history(0.91, self.DISTILL)
        self.assertNotIn("none reaches", text)
        self.assertIn("then 91.0 % in this run (+ per-token distillation from a CNN teacher on the codes (weight 1) "
                      "and half of each batch on shifted token grids); the floor is 90.0 %.", text)

    def test_a_stage_b_length_other_than_the_predecessors_is_named(self):
        text = model_card._recipe_history(0.752, {"contrastive": dict(self.DISTILL["contrastive"], steps=3000)})
        self.assertIn("shifted token grids, and 3000 stage-B steps instead of 5000); the floor", text)
        only_distill = model_card._recipe_history(0.8, {"contrastive": dict(self.DISTILL["contrastive"], shift_fraction=0.0)})
        self.assertIn("(+ per-token distillation from a CNN teacher on the codes (weight 1)); the floor", only_distill)

    def test_a_run_without_a_new_change_is_refused(self):
        with self.assertRaises(ValueError):
            model_card._recipe_history(0.5, {"train_position_jitter": 3.0, "contrastive": {
                "steps": 5000, "token_distill_weight": 0.0, "shift_fraction": 0.0}})

    def test_a_balanced_token_loss_is_this_runs_change(self):
        text = model_card._recipe_history(0.86, {"contrastive": {"steps": 5000, "token_shape_balance": True}})
        self.assertIn("then 86.0 % in this run (+ the per-token shape loss weighing each shape of a scene the same, "
                      "not each token); the floor is 90.0 %.", text)

    def test_a_deeper_vit_is_this_runs_change(self):
        text = model_card._recipe_history(0.84, {"model": {"vision": {"depth": 6}}, "contrastive": {"steps": 5000}})
        self.assertIn("then 84.0 % in this run (+ a token ViT of depth 6 instead of 4); the floor is 90.0 %.", text)
        with self.assertRaises(ValueError):  # the predecessor's depth is no change
            model_card._recipe_history(0.84, {"model": {"vision": {"depth": 4}}, "contrastive": {"steps": 5000}})

    def test_a_stage_a3_unlike_the_predecessors_is_this_runs_change(self):
        plain = {"vq_shape": {"steps": 800, "small_shape_share": 0.0}, "contrastive": {"steps": 5000}}
        self.assertIn("then 84.0 % in this run (+ stage A3 on its plain stream of scenes instead of all of it and 800 "
                      "stage-A3 steps instead of 1200); the floor", model_card._recipe_history(0.84, plain))
        half = {"vq_shape": {"steps": 1200, "small_shape_share": 0.5}, "contrastive": {"steps": 5000}}
        self.assertIn("(+ stage A3 with half of each batch from scenes that hold a small shape instead of all of it);",
                      model_card._recipe_history(0.84, half))
        with self.assertRaises(ValueError):  # the predecessor's stage A3 is no change
            model_card._recipe_history(0.84, {"vq_shape": {"steps": 1200, "small_shape_share": 1.0},
                                              "contrastive": {"steps": 5000}})

    def test_a_wider_position_jitter_is_this_runs_change(self):
        text = model_card._recipe_history(0.85, self.JITTER)
        self.assertIn("then 85.0 % in this run (+ stage B's training scenes drawn with 8 px of position jitter "
                      "instead of 3); the floor is 90.0 %.", text)


class Times(unittest.TestCase):
    TIMES = {"token_ids": {"wall_s": 60.0, "cpu_s": 30.0}, "stage_b0_next_token": {"wall_s": 360.0, "cpu_s": 700.0},
             "stage_b_contrastive": {"wall_s": 3000.0, "cpu_s": 5900.0}, "evaluation": {"wall_s": 6.0, "cpu_s": 12.0},
             "vq": {"wall_s": 8.0, "cpu_s": 14.0}, "total": {"wall_s": 3440.0, "cpu_s": 6670.0}}

    def run_from(self, stages):
        return {"times": self.TIMES, "vq_stages": stages, "vq_from": "/runs/vqw8/vq.pt"}

    def test_the_recipe_time_counts_every_vq_stage_once_wherever_it_ran(self):
        run = self.run_from({"a": {"run": "/runs/full-s0", "wall_s": 3900.0, "cpu_s": 6000.0}, "a2": A2})
        # stages A and A2, then ids, B0, B and evaluation; not this run's VQ loading, not its total
        self.assertEqual(model_card.recipe_time(run), {"wall_s": 9126.0, "cpu_s": 13842.0})
        text = model_card._times_paragraph(run, Path("/runs/b"))[0]
        self.assertIn("in 3 invocations", text)
        self.assertIn("stage A in run `/runs/full-s0` (65.0 min wall, 100.0 min CPU), stage A2 in run "
                      "`/runs/vqw8` (30.0 min wall, 20.0 min CPU), then the towers with "
                      "`--vq-from /runs/vqw8/vq.pt`", text)
        self.assertIn("about 152 min wall, 231 min CPU", text)

    def test_ids_read_from_the_cache_add_the_minutes_encoding_them_costs(self):
        stages = {"a": {"run": "/runs/full-s0", "wall_s": 3900.0, "cpu_s": 6000.0}, "a2": A2}
        encoded = model_card._times_paragraph(self.run_from(stages), Path("/runs/b"))[0]
        self.assertIn("(ids 1.0 min wall, 0.5 min CPU; stage B0", encoded)
        self.assertNotIn("plus about", encoded)
        cached = dict(self.run_from(stages), times=dict(self.TIMES, token_ids={"wall_s": 2.0, "cpu_s": 1.0}))
        text = model_card._times_paragraph(cached, Path("/runs/b"))[0]
        self.assertIn("(ids 0.0 min wall, 0.0 min CPU, from the ids cache; stage B0", text)
        self.assertIn("build machine, plus about 5 minutes to encode the training ids;", text)

    def test_a_run_that_trained_stage_a2_itself_counts_one_invocation_less(self):
        run = self.run_from({"a": {"run": "/runs/full-s0", "wall_s": 3900.0, "cpu_s": 6000.0},
                             "a2": dict(A2, run="/runs/b")})
        self.assertIn("in 2 invocations", model_card._times_paragraph(run, Path("/runs/b"))[0])

    def test_a_run_that_trained_everything_lists_its_stages(self):
        here = {"a": {"run": "/runs/b", "wall_s": 3900.0, "cpu_s": 6000.0}, "a2": dict(A2, run="/runs/b")}
        text = model_card._times_paragraph(self.run_from(here), Path("/runs/b"))[0]
        self.assertIn("stage A 65.0 min wall, 100.0 min CPU; stage A2 30.0 min wall, 20.0 min CPU; ids 1.0 min", text)
        self.assertIn("total 152.1 min wall, 230.7 min CPU", text)

    def test_stage_a2_is_described_from_its_record(self):
        text = model_card._fine_tunes_text({"a": {}, "a2": A2})
        self.assertIn("Stage A2: 1000 more steps of 8 scenes from stage A's VQ, lr 0.0002, with pixels on and "
                      "within 2 px of a shape weighing 9 times as much", text)
        self.assertEqual(model_card._fine_tunes_text({"a": {}}), "")

    def test_stage_a3_follows_a2_from_its_record(self):
        text = model_card._fine_tunes_text({"a": {}, "a2": A2, "a3": A3})
        self.assertIn("capacity on shapes' outlines rather than on backgrounds. Stage A3: a small CNN over the "
                      "8x8 grid of code vectors learns to name the shapes of a scene (multi-label), first alone on "
                      "the frozen codes of 12k training scenes (1500 steps of 64), then jointly with the VQ for 1200 "
                      "steps of 8 scenes, every scene drawn from the training scenes that hold a small shape (lr 0.0002, "
                      "the same object weighting) with weight 0.5", text)

    def test_stage_a3_states_its_share_of_small_shapes(self):
        def text(share: float) -> str:
            return model_card._fine_tunes_text({"a3": dict(A3, config=dict(A3["config"], steps=800,
                                                                             small_shape_share=share))})
        self.assertIn("800 steps of 8 scenes, half of the scenes drawn from the training scenes that hold a small shape",
                      text(0.5))
        self.assertIn("800 steps of 8 scenes, 25 % of the scenes drawn from the training scenes that hold a small "
                      "shape", text(0.25))
        self.assertIn("800 steps of 8 scenes (lr 0.0002", text(0.0))
        self.assertNotIn("small shape", text(0.0).split("800 steps")[1].split("(lr")[0])

    def test_stage_a3_counts_in_the_recipe_time(self):
        run = {"times": Times.TIMES, "vq_stages": {"a": {"run": "/runs/b", "wall_s": 3900.0, "cpu_s": 6000.0},
                                                    "a2": dict(A2, run="/runs/b"), "a3": dict(A3, run="/runs/b")}}
        self.assertEqual(model_card.recipe_time(run), {"wall_s": 10026.0, "cpu_s": 15342.0})


class WholeCard(unittest.TestCase):
    """The card of a full-recipe run, rendered against the shipped bundle's manifest."""
    MANIFEST = json.loads((Path(__file__).resolve().parents[3] / "models/toklip-scenes-128/manifest.json").read_text())
    STAGES = {"a": {"run": "/runs/full-s0", "wall_s": 3900.0, "cpu_s": 6000.0, "config": dataclasses.asdict(FULL.vq)},
              "a2": A2, "a3": A3}

    def card(self, shape_acc: float) -> str:
        # the full recipe with stage B's optional wider jitter, distillation and shifted grids switched on
        recipe = dataclasses.replace(FULL, train_position_jitter=8.0, contrastive=dataclasses.replace(
            FULL.contrastive, token_distill_weight=1.0, shift_fraction=0.5, token_shape_balance=True))
        run = {"config": json.loads(json.dumps(dataclasses.asdict(recipe), default=str)), "vq_stages": self.STAGES,
               "times": Times.TIMES, "vq_from": "/runs/shipped/vq.pt", "seed": 0, "torch": "1.13", "threads": 2,
               "stage_b_teacher": {"train_bce": 0.05, "heldout_shape_acc": 0.912}}
        bundle = {"psnr_mean": 28.8, "psnr_p10": 26.0, "psnr_min": 23.0, "zero_shot_colour_acc": 0.99,
                  "zero_shot_shape_acc": shape_acc, "zero_shot_joint_acc": shape_acc - 0.01, "i2t_r1": 0.75,
                  "i2t_r5": 0.95, "t2i_r1": 0.8, "t2i_r5": 0.97}
        return model_card.render_card(run, Path("/runs/b"), {"bundle": bundle, "floors": FLOORS}, self.MANIFEST,
                                      "python3 tools/export/export.py ...")

    def test_stage_b_names_the_distillation_teacher_and_its_held_out_accuracy(self):
        card = self.card(0.85)
        self.assertIn("and a per-token distillation loss (weight 1): a small CNN on the 8x8 code vectors, the "
                      "teacher (1500 steps of 64 on the training scenes' shape labels, 91.2 % held-out shape "
                      "accuracy)", card)
        self.assertIn("regresses onto (cosine, through a linear head; teacher and head are discarded); half of each "
                      "batch sees its ids moved on the token grid", card)
        self.assertIn("then 85.0 % in this run (+ stage B's training scenes drawn with 8 px of position jitter instead "
                      "of 3, the per-token shape loss weighing each shape of a scene the same, not each token, per-token distillation from a CNN teacher on the codes (weight 1) and half of each batch "
                      "on shifted token grids); the floor is 90.0 %.", card)
        self.assertIn("## Known gaps", card)

    def test_stage_b_names_the_balanced_token_loss(self):
        self.assertIn("is drawn and not only through one caption word per image, each shape of a scene weighing the "
                      "same in that loss whatever its number of tokens", self.card(0.85))

    def test_stage_b_names_its_scenes_position_jitter(self):
        self.assertIn("Stage B: VQ frozen, 40000 training scenes (drawn with a position jitter of 8 px about their cell "
                      "centres instead of the generator's 3, so that each shape is seen at every offset to the 16 px "
                      "token grid", self.card(0.85))

    def test_a_run_that_meets_every_floor_has_no_known_gaps_but_keeps_its_history(self):
        card = self.card(0.92)
        self.assertNotIn("## Known gaps", card)
        self.assertIn("then 92.0 % in this run (+ stage B's training scenes drawn with 8 px", card)
        self.assertIn("| zero-shot shape accuracy | 92.0 % |  | 90.0 % | met |", card)


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
