"""Where the shipped model loses shape: four measurements on the held-out single-shape scenes.

    tools/python -m toklip_train.diagnose_shape --checkpoint RUN/toklip.pt [--steps 400] [--vit-steps N] [--pixel-steps N] [--json OUT]

1. Zero-shot confusion of the trained model ("a {colour} {shape}" prompts), and accuracy by size,
   on the held-out scenes and on the single-shape training scenes (memorised or not learnt).
2. Linear probe: logistic regression from the trained image embeddings to the shape (fitted on
   the single-shape training scenes). Low: the embedding itself holds little shape.
3. A 3-layer CNN on the 8x8 grid of VQ code vectors, trained on shape labels: do the codes
   carry shape at all, and at which sizes (held-out accuracy by size, and on its own training
   scenes: a CNN that fits those but not the held-out ones is bounded by the codes and data)?
   With --pixel-steps, the same question of a CNN on the rendered pixels and on the VQ's
   reconstructions: what the data allow, and what the VQ discards.
4. A fresh token ViT of the recipe's size (same initialisation as stage B) trained on the same
   shape labels for the same steps: how fast does the architecture pick it up?

Uses the training ids from the cache that train.py fills (tools/train/runs/.ids-cache); without
it, encoding the 40k training scenes costs about 4 minutes (onnxruntime-node). 3 and 4 take about
half a minute and 0.6 s per step on 2 cores.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict  # noqa: E402


import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from .code_cnn import CodeIdsCNN  # noqa: E402
from .contrastive import init_towers  # noqa: E402
from .data import render, scene_batch  # noqa: E402
from .evaluation import EVAL_SEED, held_out_sets, zero_shot_prompts  # noqa: E402
from .networks import TokLIP, l2_normalize  # noqa: E402
from .pipeline import encode_ids, training_ids, image_embeddings, text_embeddings  # noqa: E402
from .recipe import FULL  # noqa: E402
from .scenes import SHAPES  # noqa: E402
from toklip_export.convert import load_toklip  # noqa: E402

BATCH = 64


def load(path: str) -> TokLIP:
    """The checkpoint through the exporter's loader (official layout, config inferred from the
    shapes), as evaluate.py reads it; heads and norm groups are the recipe's."""
    m = FULL.model
    return load_toklip(path, vision_heads=m.vision.heads, text_heads=m.text.heads,
                       norm_groups=m.vq.norm_groups).model.eval()


def confusion(model: TokLIP, ids: torch.Tensor, scenes) -> Dict[str, object]:
    prompts = zero_shot_prompts()
    img = l2_normalize(torch.from_numpy(image_embeddings(model, ids)))
    txt = l2_normalize(torch.from_numpy(text_embeddings(model, [p for p, _, _ in prompts])))
    pred = [prompts[int(i)][2] for i in (img @ txt.t()).argmax(1)]
    truth = [s.shapes[0].shape for s in scenes]
    matrix = {t: [sum(1 for p, q in zip(pred, truth) if q == t and p == s) for s in SHAPES] for t in SHAPES}
    return {"shape_acc": float(np.mean([p == t for p, t in zip(pred, truth)])), "confusion": matrix,
            "acc_by_size": accuracy_by_size(pred, scenes)}


def accuracy_by_size(predicted_shapes, scenes) -> Dict[str, float]:
    right: Counter = Counter()
    total: Counter = Counter()
    for p, s in zip(predicted_shapes, scenes):
        total[s.shapes[0].size] += 1
        right[s.shapes[0].size] += p == s.shapes[0].shape
    return {k: right[k] / total[k] for k in sorted(total)}


def predicted_shapes(classifier: nn.Module, inputs: torch.Tensor) -> list:
    return [SHAPES[int(i)] for i in classifier(inputs).argmax(1)]


def linear_probe(model: TokLIP, train_ids, train_y, test_ids, test_y) -> float:
    x, xt = (torch.from_numpy(image_embeddings(model, i)) for i in (train_ids, test_ids))
    mean, std = x.mean(0), x.std(0) + 1e-6
    x, xt = (x - mean) / std, (xt - mean) / std
    torch.manual_seed(0)
    probe = nn.Linear(x.shape[1], len(SHAPES))
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2)
    for _ in range(500):  # full-batch logistic regression
        loss = F.cross_entropy(probe(x), train_y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((probe(xt).argmax(1) == test_y).float().mean())


class PixelCNN(nn.Module):
    """Three convolutions on images at half size (64 px): the CNN question asked of pixels."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.AvgPool2d(2), nn.Conv2d(3, 32, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.GELU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
            nn.Linear(128, len(SHAPES)))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(pixels)


@torch.no_grad()
def reconstructions(model: TokLIP, ids: torch.Tensor) -> torch.Tensor:
    """The VQ decoder's images of the codes (B,3,R,R) in [-1,1], as the service's decode returns."""
    return torch.cat([model.trunk.vq.decode_ids(ids[k:k + 256], FULL.model.grid) for k in range(0, len(ids), 256)])


class FreshViT(nn.Module):
    """The recipe's token ViT, initialised as stage B initialises it, with a linear shape head."""

    def __init__(self, vq_state: dict, seed: int):
        super().__init__()
        model = init_towers(TokLIP(FULL.model), seed)
        model.trunk.vq.load_state_dict(vq_state)
        self.trunk = model.trunk
        self.head = nn.Linear(FULL.model.vision.width, len(SHAPES))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk.encode_ids(ids)[1])


def supervised(net: nn.Module, train_ids, train_y, test_ids, test_y, steps: int, lr: float,
               log: Callable[[str], None], name: str) -> Dict[int, float]:
    params = [p for n, p in net.named_parameters() if ".vq." not in n]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
    gen = torch.Generator().manual_seed(0)
    curve: Dict[int, float] = {}
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 50)
        batch = torch.randint(len(train_ids), (BATCH,), generator=gen)
        loss = F.cross_entropy(net(train_ids[batch]), train_y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            with torch.no_grad():
                curve[step + 1] = float((net(test_ids).argmax(1) == test_y).float().mean())
            log(f"{name}: step {step + 1} held-out shape accuracy {curve[step + 1]:.3f}")
    return curve


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--steps", type=int, default=400, help="training steps of the CNN and of the fresh ViT")
    p.add_argument("--vit-steps", type=int, help="training steps of the fresh ViT (default --steps; 0 skips it)")
    p.add_argument("--pixel-steps", type=int, default=0,
                   help="training steps of a CNN on the rendered pixels and on the VQ's reconstructions "
                        "(0, the default, skips both; decoding the reconstructions takes about 4 minutes)")
    p.add_argument("--ids-cache", default=str(Path(__file__).resolve().parents[1] / "runs" / ".ids-cache"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    log = lambda m: print(m, flush=True)  # noqa: E731

    model = load(args.checkpoint)
    scenes = scene_batch("train", 0, FULL.train_scenes, EVAL_SEED, position_jitter=FULL.train_position_jitter)
    ids = training_ids(model, scenes, Path(args.ids_cache), log)
    single = [i for i, s in enumerate(scenes) if len(s.shapes) == 1]
    train_ids = ids[single]
    train_y = torch.tensor([SHAPES.index(scenes[i].shapes[0].shape) for i in single])
    held = held_out_sets().zero_shot
    test_ids = encode_ids(model, held)
    test_y = torch.tensor([SHAPES.index(s.shapes[0].shape) for s in held])

    vit_steps = args.steps if args.vit_steps is None else args.vit_steps
    out: Dict[str, object] = {"checkpoint": args.checkpoint, "train_single_shape_scenes": len(single),
                              "heldout_scenes": len(held), "steps": args.steps, "vit_steps": vit_steps}
    out["zero_shot"] = confusion(model, test_ids, held)
    log(f"zero-shot shape accuracy {out['zero_shot']['shape_acc']:.3f}; by size {out['zero_shot']['acc_by_size']}")
    # The same prompts on the single-shape scenes the model trained on: a gap to the held-out
    # figure means it memorised; no gap means it has not learnt shape even where it was taught.
    out["zero_shot_train"] = confusion(model, train_ids, [scenes[i] for i in single])
    log(f"zero-shot shape accuracy on the training scenes {out['zero_shot_train']['shape_acc']:.3f}; "
        f"by size {out['zero_shot_train']['acc_by_size']}")
    log("confusion (rows: true, columns: predicted " + ", ".join(SHAPES) + ")")
    for shape, row in out["zero_shot"]["confusion"].items():
        log(f"  {shape:9s} {row}")
    out["linear_probe_on_embeddings"] = linear_probe(model, train_ids, train_y, test_ids, test_y)
    log(f"linear probe on the trained image embeddings: {out['linear_probe_on_embeddings']:.3f}")
    torch.manual_seed(0)
    codebook = model.trunk.vq.quantize.normalized_codebook().detach()
    cnn = CodeIdsCNN(codebook)
    out["cnn_on_codes"] = supervised(cnn, train_ids, train_y, test_ids, test_y, args.steps, 1e-3, log,
                                     "CNN on code vectors")
    # How far the codes themselves carry shape, by size, and whether the CNN only memorised.
    with torch.no_grad():
        out["cnn_on_codes_by_size"] = accuracy_by_size(predicted_shapes(cnn, test_ids), held)
        out["cnn_on_codes_train_acc"] = float((cnn(train_ids).argmax(1) == train_y).float().mean())
    log(f"CNN on code vectors: held-out by size {out['cnn_on_codes_by_size']}, "
        f"on its training scenes {out['cnn_on_codes_train_acc']:.3f}")
    out["fresh_vit"] = supervised(FreshViT(model.trunk.vq.state_dict(), seed=1), train_ids, train_y, test_ids,
                                  test_y, vit_steps, 1e-3, log, "fresh token ViT")
    if args.pixel_steps > 0:
        # The same CNN on the rendered scenes and on the VQ's reconstructions of their codes: the
        # first says what the data allow, the gap to the second what the VQ discards.
        train_scenes = [scenes[i] for i in single]
        inputs = {"pixels": lambda: (render(train_scenes), render(held)),
                  "reconstructions": lambda: (reconstructions(model, train_ids), reconstructions(model, test_ids))}
        for name, make in inputs.items():
            train_x, test_x = make()
            torch.manual_seed(0)
            cnn_px = PixelCNN()
            out[f"cnn_on_{name}"] = supervised(cnn_px, train_x, train_y, test_x, test_y, args.pixel_steps, 1e-3,
                                               log, f"CNN on {name}")
            with torch.no_grad():
                out[f"cnn_on_{name}_by_size"] = accuracy_by_size(predicted_shapes(cnn_px, test_x), held)
            log(f"CNN on {name}: held-out by size {out[f'cnn_on_{name}_by_size']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
