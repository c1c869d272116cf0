"""The whole PyTorch TokLIP read back from an exported bundle, so that a later recipe can continue
a shipped model whose checkpoint is not kept (run folders are not committed, bundles are).

The VQ comes back exactly (vq_from_bundle.py). The towers' parameters are traced the same way:
the exporter's semantic- and text-encoder graphs are exported once more from a model whose
parameters hold distinct random values, and each parameter is found among that graph's
initializers (as stored, or transposed), at a place the bundle's graph fills with the trained
value. Three things the semantic graph holds only in a derived form are rebuilt:
* the MAP pool's query is a constant (q(latent), split into heads and scaled): q becomes the
  identity and the latent that query, unscaled, which gives the same constant;
* the token MLP exists only as its output for every code (the "table"): an MLP of the same shape
  is fitted to the table (`fit_token_mlp`, Adam, a few thousand steps on the 1024 rows), close to
  the table but not equal to it (the fit's error is returned and logged);
* logit_scale is the manifest's (ln of it).
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from toklip_export.config import TextConfig, TokLIPConfig, VisionConfig
from toklip_export.onnx_export import SemanticEncoder, TextEncoder, example_inputs, export_module, graph_specs

from .networks import TokLIP
from .vq_from_bundle import _initializers, recover as recover_vq, vq_config

VQ_PREFIX = "visual.trunk.vq."
# Parameters the semantic graph holds only in a derived form (rebuilt, see the module's docstring).
DERIVED = tuple("visual.trunk." + n for n in ("vq_table.weight", "vq_table.bias", "vq_mapping.weight", "vq_mapping.bias",
                                             "attn_pool.latent", "attn_pool.q.weight", "attn_pool.q.bias"))


def config_from_manifest(manifest: dict) -> TokLIPConfig:
    arch = manifest["architecture"]
    vision, text = arch["vision"], arch["text"]
    width = vision["width"]
    return TokLIPConfig(
        image_size=manifest["image_size"], vq=vq_config(manifest),
        vision=VisionConfig(width=width, depth=vision["depth"], heads=vision["heads"],
                            mlp_hidden=vision["mlp_hidden"], token_mlp_hidden=vision["token_mlp_hidden"],
                            pool_mlp_hidden=vision["pool_mlp_hidden"], num_tokens=manifest["num_tokens"]),
        text=TextConfig(width=text["width"], depth=text["depth"], heads=text["heads"], mlp_hidden=text["mlp_hidden"],
                        vocab_size=text["vocab_size"], context_length=manifest["text"]["context_length"],
                        embed_dim=manifest["embedding_dim"]),
        logit_bias=False)


def _export_towers(model: TokLIP, folder: Path) -> Dict[str, Dict[str, np.ndarray]]:
    """The two tower graphs of `model`, exported as the exporter exports them (its example inputs
    and dynamic axes: node names, and so the keys of _initializers, depend on both)."""
    cfg = model.config
    specs = graph_specs(cfg)
    out = {}
    for name, module in (("semantic_encoder", SemanticEncoder(model.trunk)), ("text_encoder", TextEncoder(model.text))):
        spec = specs[name]
        export_module(module.eval(), example_inputs(spec, cfg), [t.name for t in spec.inputs],
                      [t.name for t in spec.outputs], spec.dynamic_axes(), str(folder / f"{name}.onnx"))
        out[name] = _initializers(folder / f"{name}.onnx")
    return out


def _trace(model: TokLIP, graphs: Dict[str, Dict[str, np.ndarray]]) -> Dict[str, Tuple[str, str, bool]]:
    """parameter name -> (graph, initializer key, stored transposed) for the towers' parameters."""
    by_values = {}
    for graph, inits in graphs.items():
        for key, value in inits.items():
            by_values.setdefault(value.astype(np.float32).tobytes(), (graph, key))
    found = {}
    for name, p in model.named_parameters():
        if name.startswith(VQ_PREFIX) or name in DERIVED or name in ("logit_scale", "logit_bias"):
            continue
        value = p.detach().numpy().astype(np.float32)
        for transposed, candidate in ((False, value), (True, value.T if value.ndim == 2 else None)):
            if candidate is not None and np.ascontiguousarray(candidate).tobytes() in by_values:
                found[name] = (*by_values[np.ascontiguousarray(candidate).tobytes()], transposed)
                break
    return found


def fit_token_mlp(model: TokLIP, table: torch.Tensor, steps: int, log: Callable[[str], None]) -> float:
    """Fits the token MLP (vq_table, vq_mapping) so that token_mlp(normalised codebook) = table;
    returns the largest error relative to the table's largest entry."""
    trunk = model.trunk
    codes = trunk.vq.quantize.normalized_codebook().detach()
    params = [*trunk.vq_table.parameters(), *trunk.vq_mapping.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    scale = float(table.abs().max())
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = 1e-3 * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = F.mse_loss(trunk.token_mlp(codes), table)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        err = float((trunk.token_mlp(codes) - table).abs().max()) / scale
    log(f"token MLP fitted to the bundle's token table in {steps} steps: max error {err:.2e} of the table's scale")
    return err


def recover(bundle: Path, *, token_mlp_steps: int = 3000, seed: int = 0,
            log: Callable[[str], None] = print) -> Tuple[TokLIP, dict]:
    """-> (the bundle's model, a report: the token MLP's fit error, the tokenizer's vocabulary)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    cfg = config_from_manifest(manifest)
    probe = TokLIP(cfg).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in probe.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    with tempfile.TemporaryDirectory() as tmp:
        where = _trace(probe, _export_towers(probe, Path(tmp)))
    wanted = [n for n, _ in probe.named_parameters()
              if not n.startswith(VQ_PREFIX) and n not in DERIVED and n not in ("logit_scale", "logit_bias")]
    missing = [n for n in wanted if n not in where]
    if missing:
        raise RuntimeError(f"tower parameters not found in the exported graphs: {missing}")
    trained = {g: _initializers(bundle / f"{g}.onnx") for g in ("semantic_encoder", "text_encoder")}
    # the token MLP keeps this initialisation until it is fitted: seeded, or a run cannot repeat
    torch.manual_seed(seed)
    model = TokLIP(cfg).eval()
    vq, _ = recover_vq(bundle)
    state = model.state_dict()
    for key, value in vq.state_dict().items():
        state[VQ_PREFIX + key] = value
    for name, (graph, key, transposed) in where.items():
        value = torch.from_numpy(trained[graph][key].copy())
        state[name] = (value.T if transposed else value).reshape(state[name].shape).contiguous()
    state["logit_scale"] = torch.tensor(math.log(manifest["logit_scale"]))
    model.load_state_dict(state)
    sem = _initializers_by_name(bundle / "semantic_encoder.onnx")
    _set_pool_query(model, torch.from_numpy(sem["pool_query"].copy()))
    err = fit_token_mlp(model, torch.from_numpy(sem["table"].copy()), token_mlp_steps, log)
    vocab = json.loads((bundle / manifest["text"]["tokenizer"]).read_text())["model"]["vocab"]
    return model.eval(), {"token_mlp_max_rel_err": err, "vocab": vocab}


def _initializers_by_name(path: Path) -> Dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


@torch.no_grad()
def _set_pool_query(model: TokLIP, query: torch.Tensor) -> None:
    """latent and q such that attn_pool.query() equals `query` (1, H, 1, d)."""
    pool = model.trunk.attn_pool
    heads, d = query.shape[1], query.shape[-1]
    unscaled = query / (d ** -0.5)
    pool.latent.copy_(unscaled.permute(0, 2, 1, 3).reshape(1, 1, heads * d))
    pool.q.weight.copy_(torch.eye(heads * d))
    pool.q.bias.zero_()


def remap_vocabulary(model: TokLIP, old_vocab: Dict[str, int], new_vocab: Dict[str, int], seed: int) -> List[str]:
    """A copy of `model`'s text tower for `new_vocab`: each word keeps its embedding row, new words
    get fresh rows (normal, std 0.02, as init_towers). Returns the new words."""
    text = model.text
    old = text.token_embedding.weight.detach()
    gen = torch.Generator().manual_seed(seed)
    fresh = torch.randn((len(new_vocab), old.shape[1]), generator=gen) * 0.02
    new_words = []
    for word, i in new_vocab.items():
        if word in old_vocab:
            fresh[i] = old[old_vocab[word]]
        else:
            new_words.append(word)
    text.token_embedding = torch.nn.Embedding(len(new_vocab), old.shape[1])
    with torch.no_grad():
        text.token_embedding.weight.copy_(fresh)
    return new_words
