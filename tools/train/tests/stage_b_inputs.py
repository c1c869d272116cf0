"""Stage-B trainer inputs shared by the auxiliary-loss tests: a smoke-sized model, 8 training
scenes, random token ids for them, and an order that takes them all as one batch."""
from typing import List, Tuple

import numpy as np
import torch

from toklip_train import scenes as S
from toklip_train.networks import TokLIP
from toklip_train.recipe import SMOKE


def smoke_stage_b(n: int = 8) -> Tuple[TokLIP, List[S.Scene], torch.Tensor, np.ndarray]:
    torch.manual_seed(0)
    model = TokLIP(SMOKE.model)
    scenes = [S.scene("train", i, 0) for i in range(n)]
    ids = torch.from_numpy(np.random.default_rng(0).integers(
        SMOKE.model.vq.codebook_size, size=(n, SMOKE.model.vision.num_tokens)))
    return model, scenes, ids, np.arange(n)
