"""Writers of checkpoint files laid out like the released ones (spec section 7), for tests and
fixtures: a TokLIP training checkpoint and a LlamaGen VQ file."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch

from .convert import VQ_PREFIX
from .model import TokLIP


def official_state_dict(model: TokLIP, *, include_vq: bool = True, logit_bias: bool = False) -> Dict[str, torch.Tensor]:
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if not logit_bias:
        sd.pop("logit_bias", None)  # removed by --siglip-train in the released files
    if not include_vq:
        sd = {k: v for k, v in sd.items() if not k.startswith(VQ_PREFIX)}
    return sd


def training_checkpoint(model: TokLIP, *, include_vq: bool = True, module_prefix: bool = True,
                        logit_bias: bool = False, epoch: int = 10) -> dict:
    """{'epoch', 'name', 'state_dict': {'module.<key>': tensor}, 'optimizer': AdamW state with
    numpy-scalar learning rates, 'scaler': GradScaler state}, as open_clip's training saves."""
    sd = official_state_dict(model, include_vq=include_vq, logit_bias=logit_bias)
    trainable = [k for k in sd if k == "logit_scale" or (k.startswith("visual.trunk.") and not k.startswith(VQ_PREFIX))]
    state = {i: {"step": torch.tensor(1000.0), "exp_avg": torch.zeros_like(sd[k]),
                 "exp_avg_sq": torch.zeros_like(sd[k])} for i, k in enumerate(trainable)}
    groups = [{"lr": np.float64(1.5e-5), "initial_lr": np.float64(5e-4), "betas": (0.9, 0.98), "eps": 1e-6,
               "weight_decay": 0.2, "amsgrad": False, "maximize": False, "params": list(range(len(trainable)))}]
    prefix = "module." if module_prefix else ""
    return {"epoch": epoch, "name": "toklip-test",
            "state_dict": {prefix + k: v for k, v in sd.items()},
            "optimizer": {"state": state, "param_groups": groups},
            "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                       "growth_interval": 2000, "_growth_tracker": np.int64(7)}}


def llamagen_checkpoint(model: TokLIP, key: Optional[str] = "model", *, ema: Optional[TokLIP] = None) -> dict:
    """LlamaGen VQ file: weights under `key` ('model' in vq_ds16_t2i.pt), optionally an 'ema' copy;
    key=None gives a bare state dict."""
    sd = {k: v.detach().clone() for k, v in model.vq.state_dict().items()}
    if key is None:
        return sd
    out = {key: sd, "steps": np.int64(400000)}
    if ema is not None:
        out["ema"] = {k: v.detach().clone() for k, v in ema.vq.state_dict().items()}
    return out
