"""The two training recipes: `full` (the shipped model) and `smoke` (seconds, for tests).

Architecture sizes are chosen for a 2-core CPU budget of about an hour and a bundle well under
25 MB; they keep the official module tree (LlamaGen VQ with 16x down-sampling, causal token ViT
with MAP pooling, open_clip text tower), only narrower and shallower.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from .contrastive import ContrastiveConfig
from .networks import TextConfig, TokLIPConfig, VisionConfig, VQConfig
from .next_token import NextTokenConfig
from .scenes import IMAGE_SIZE, POSITION_JITTER, WIDE_POSITION_JITTER
from .token_distill import TeacherConfig
from .tokenizer import CONTEXT_LENGTH, VOCAB
from .vq_training import VQTrainConfig

MODEL_NAME = "toklip-scenes-128"


@dataclass(frozen=True)
class Recipe:
    name: str
    model: TokLIPConfig
    vq: VQTrainConfig
    contrastive: ContrastiveConfig
    train_scenes: int  # scenes whose VQ ids stage B trains on
    # Position jitter of those scenes (pixels): the VQ stages and the held-out sets keep POSITION_JITTER.
    train_position_jitter: float = POSITION_JITTER
    next_token: NextTokenConfig = NextTokenConfig()  # stage B0, before the contrastive stage
    # Stage A2, after stage A: an object-weighted fine-tune of the VQ (VQTrainConfig.object_weight).
    vq_object: Optional[VQTrainConfig] = None
    # Stage A3, after A2: a shape-aware fine-tune (VQTrainConfig.scene_shape_weight).
    vq_shape: Optional[VQTrainConfig] = None


# Stage A3's settings (the full recipe's vq_shape; named for the tests): a CNN on the code grid names
# the scene's shapes, its gradient shaping the codes. Every scene holds a small shape, for 1200 steps
# (not 800 of the stage's plain stream): see tools/train/README.md, "Small shapes in stage A3".
SHAPE_AWARE_VQ = VQTrainConfig(steps=1200, batch_size=8, lr=2e-4, warmup=50, gradient_weight=0.0, object_weight=8.0,
                               scene_shape_weight=0.5, small_shape_share=1.0, shape_head_warm_scenes=12_000,
                               shape_head_warm_steps=1500, continuous_steps=0, eval_every=200, log_every=50)


def _model(vq: VQConfig, width: int, depth: int, heads: int, text_depth: int) -> TokLIPConfig:
    grid = IMAGE_SIZE // vq.downsample_factor
    vision = VisionConfig(width=width, depth=depth, heads=heads, mlp_hidden=4 * width,
                          token_mlp_hidden=4 * width, pool_mlp_hidden=4 * width,
                          num_tokens=grid * grid)
    text = TextConfig(width=width, depth=text_depth, heads=heads, mlp_hidden=4 * width,
                      vocab_size=len(VOCAB), context_length=CONTEXT_LENGTH, embed_dim=width)
    return TokLIPConfig(image_size=IMAGE_SIZE, vq=vq, vision=vision, text=text, logit_bias=False)


FULL = Recipe(
    name="full",
    model=_model(VQConfig(base_channels=16, channel_multipliers=(1, 1, 2, 4, 8), encoder_res_blocks=1,
                          decoder_res_blocks=1, z_channels=64, codebook_size=1024, codebook_dim=8,
                          norm_groups=4),
                 # depth 6 ended at the same held-out shape (80.6 %) with a 1.3x slower stage B, see
                 # tools/train/README.md, "A deeper token ViT (depth 6, off)"
                 width=128, depth=4, heads=4, text_depth=2),
    vq=VQTrainConfig(steps=8000, batch_size=4, lr=7e-4, warmup=100, gradient_weight=0.0,
                     continuous_steps=600, eval_every=250, log_every=50),
    # Shapes weigh 1 + 8 in the reconstruction losses: see tools/train/README.md, "Object-weighted VQ".
    vq_object=VQTrainConfig(steps=1000, batch_size=8, lr=2e-4, warmup=50, gradient_weight=0.0, object_weight=8.0,
                            continuous_steps=0, eval_every=250, log_every=50),
    # Stage A3: the codes name the shapes, see tools/train/README.md, "Shape-aware VQ (stage A3)".
    vq_shape=SHAPE_AWARE_VQ,
    # token_shape_weight 0.5, not 1: see tools/train/README.md, "Per-token shape loss".
    # Stage B's distillation teacher and shifted token grids stay off (token_distill_weight and
    # shift_fraction 0): together they left held-out shape where it was, see tools/train/README.md,
    # "Distillation and shifted token grids (stage B, off)". token_shape_balance stays off: behind the
    # shipped run at steps 1000 and 1500, see "Small shapes, and a balanced per-token loss (stage B, off)".
    contrastive=ContrastiveConfig(steps=5000, batch_size=64, hard_negatives=("shape", "colour"),
                                  token_shape_weight=0.5),
    train_scenes=40_000,
    # train_position_jitter stays the generator's 3 px: 8 px (every offset to the token grid) left
    # stage B 15 points behind at step 2000 and 11 at 5000, see tools/train/README.md, "Wider position jitter (stage B, off)".
    next_token=NextTokenConfig(steps=500),
)

SMOKE = Recipe(
    name="smoke",
    model=_model(VQConfig(base_channels=8, channel_multipliers=(1, 1, 1, 1, 2), encoder_res_blocks=1,
                          decoder_res_blocks=1, z_channels=8, codebook_size=32, codebook_dim=8,
                          norm_groups=4),
                 width=16, depth=1, heads=2, text_depth=1),
    vq=VQTrainConfig(steps=4, batch_size=2, warmup=2, crop=64, crop_steps=1, continuous_steps=2, kmeans_vectors=256,
                     kmeans_iters=2, restart_every=2, log_every=2, eval_every=4),
    vq_object=VQTrainConfig(steps=2, batch_size=2, warmup=1, gradient_weight=0.0, object_weight=8.0,
                            restart_every=2, log_every=1, eval_every=2),
    vq_shape=VQTrainConfig(steps=2, batch_size=2, warmup=1, gradient_weight=0.0, object_weight=8.0,
                           scene_shape_weight=0.5, small_shape_share=0.5, shape_head_warm_scenes=8, shape_head_warm_steps=2,
                           shape_head_warm_batch=4, restart_every=2, log_every=1, eval_every=2),
    contrastive=ContrastiveConfig(steps=4, batch_size=8, warmup=2, log_every=2, eval_every=4,
                                  hard_negatives=("shape", "colour"), token_shape_weight=1.0, token_shape_balance=True,
                                  token_distill_weight=1.0, teacher=TeacherConfig(steps=3, batch_size=4),
                                  shift_fraction=0.5),
    train_scenes=16,
    train_position_jitter=WIDE_POSITION_JITTER,
    next_token=NextTokenConfig(steps=3, batch_size=4, warmup=1, log_every=1),
)

RECIPES = {r.name: r for r in (FULL, SMOKE)}


@dataclass(frozen=True)
class Continuation:
    """A recipe that continues a shipped model (read back from its bundle, recover.py) on the broad
    generator (broad_scenes.py) and uncaptioned pictures (pictures.py), in three stages that each
    start from the previous one's checkpoint (continued.py):
    * vq_broad: the VQ, its encoder and decoder continued, its codebook (possibly larger) new from
      k-means on the encoder's outputs after `vq_broad.continuous_steps` steps without quantiser;
    * vq_shape: the shape-aware fine-tune of stage A3 on that VQ, with broad scenes and pictures;
    * towers: the token ViT and text tower continued (new caption words get new embeddings)
      contrastively on ids of classic and broad scenes."""
    name: str
    model: TokLIPConfig
    vq_broad: VQTrainConfig
    vq_shape: VQTrainConfig
    contrastive: ContrastiveConfig
    train_scenes: int  # stage "towers"' training scenes, encoded to ids once
    classic_share: float  # of those, from the classic generator (the rest broad)
    token_mlp_fit_steps: int = 3000  # recovering the token MLP from the bundle's table (recover.py)
    eval_limit: Optional[int] = None  # > 0: the held-out sets cut to this many scenes (the smoke recipe)


BROAD = Continuation(
    name="broad",
    model=_model(dataclasses.replace(FULL.model.vq, codebook_size=4096), width=128, depth=4, heads=4, text_depth=2),
    vq_broad=VQTrainConfig(steps=3500, batch_size=8, lr=4e-4, warmup=100, gradient_weight=0.0, object_weight=2.0,
                           broad_per_batch=4, pictures_per_batch=3, continuous_steps=400, eval_every=500,
                           log_every=50),
    vq_shape=VQTrainConfig(steps=1200, batch_size=8, lr=2e-4, warmup=50, gradient_weight=0.0, object_weight=4.0,
                           scene_shape_weight=0.5, small_shape_share=0.375, broad_per_batch=3, pictures_per_batch=2,
                           shape_head_warm_scenes=12_000, shape_head_warm_steps=1500, continuous_steps=0,
                           eval_every=200, log_every=50),
    contrastive=ContrastiveConfig(steps=5000, batch_size=64, lr=5e-4, hard_negatives=("shape", "colour"),
                                  token_shape_weight=0.5),
    train_scenes=40_000,
    classic_share=0.3,
)

# The same stages in seconds, for the tests (a smoke-recipe bundle as the predecessor).
BROAD_SMOKE = Continuation(
    name="broad-smoke",
    model=_model(dataclasses.replace(SMOKE.model.vq, codebook_size=64), width=16, depth=1, heads=2, text_depth=1),
    vq_broad=VQTrainConfig(steps=4, batch_size=4, warmup=1, broad_per_batch=2, pictures_per_batch=1, continuous_steps=2,
                           kmeans_vectors=256, kmeans_iters=2, restart_every=2, log_every=2, eval_every=4),
    vq_shape=VQTrainConfig(steps=2, batch_size=4, warmup=1, object_weight=4.0, scene_shape_weight=0.5,
                           small_shape_share=0.25, broad_per_batch=1, pictures_per_batch=1, shape_head_warm_scenes=8,
                           shape_head_warm_steps=2, shape_head_warm_batch=4, restart_every=2, log_every=1, eval_every=2),
    contrastive=ContrastiveConfig(steps=4, batch_size=8, warmup=2, log_every=2, eval_every=4,
                                  hard_negatives=("shape", "colour"), token_shape_weight=1.0),
    train_scenes=20,
    classic_share=0.3,
    token_mlp_fit_steps=20,
    eval_limit=8,
)

CONTINUATIONS = {c.name: c for c in (BROAD, BROAD_SMOKE)}
