"""Checkpoint loading: file layouts, hyper-parameters read from tensor shapes, strict key and
shape checks (spec section 7).

Files are read by torchfile.read_lazy: the pickle's code never runs (numpy scalars and other
objects next to the weights become placeholders) and only the chosen state dict's tensors are
read. Layouts accepted for the TokLIP file: a dict with 'state_dict' (keys with or without the DDP
'module.' prefix, next to optimizer state and numpy scalars) or a bare state dict. For the
LlamaGen VQ file: 'ema', else 'model', else 'state_dict' (TokLIP's order), else a bare state
dict. Unlike the official loader (non-strict, shape-filtered), every missing, unexpected or
mis-shaped key is an error, except `logit_bias` (absent from the released files) and the
training-only `quantize.codebook_used`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from . import torchfile
from .config import PRESETS, TextConfig, TokLIPConfig, VisionConfig, VQConfig
from .model import TokLIP, build_model

VQ_PREFIX = "visual.trunk.vq."
TRUNK = "visual.trunk."
ALLOWED_MISSING = ("logit_bias", VQ_PREFIX + "quantize.codebook_used")
VQ_WRAPPER_KEYS = ("ema", "model", "state_dict")
MAX_LISTED = 25

StateDict = Dict[str, torch.Tensor]


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not match the architecture; the message says why."""


@dataclass
class SourceFile:
    role: str  # "toklip" | "vq"
    path: str
    layout: str

    def to_manifest(self) -> dict:
        return {"role": self.role, "file": os.path.basename(self.path), "sha256": sha256_file(self.path),
                "size": os.path.getsize(self.path), "layout": self.layout}


@dataclass
class LoadedModel:
    model: TokLIP
    config: TokLIPConfig
    sources: List[SourceFile] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def sha256_file(path: str, chunk: int = 1 << 24) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


# --- reading files --------------------------------------------------------------------------

def read_checkpoint(path: str, notes: Optional[List[str]] = None) -> Any:
    """The unpickled file with lazy tensors (zip archives, torch >= 1.6 files), else torch.load.

    torch.load would need weights_only=False for the released files (numpy scalars in the
    optimizer state), which runs the pickle; the zip reader never does. Files in the legacy
    (pre-1.6) format still go through torch.load(weights_only=False): only use trusted ones."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    if torchfile.is_torch_zip(path):
        try:
            obj, ignored = torchfile.read_lazy(path)
        except Exception as e:  # noqa: BLE001 - damaged archives raise many types
            raise CheckpointError(f"cannot read checkpoint {path} ({os.path.getsize(path)} bytes): "
                                  f"{type(e).__name__}: {e}. Is it a complete PyTorch .pt file?") from e
        if notes is not None and ignored:
            notes.append(f"{os.path.basename(path)}: skipped objects outside the weights ({', '.join(ignored)})")
        return obj
    params = inspect.signature(torch.load).parameters
    kwargs: Dict[str, Any] = {"map_location": "cpu"}
    if "weights_only" in params:
        kwargs["weights_only"] = False
    attempts = [dict(kwargs, mmap=True), kwargs] if "mmap" in params else [kwargs]
    error: Optional[BaseException] = None
    for attempt in attempts:
        try:
            return torch.load(path, **attempt)
        except Exception as e:  # noqa: BLE001 - torch raises many types for damaged files
            error = e
    raise CheckpointError(f"cannot read checkpoint {path} ({os.path.getsize(path)} bytes): "
                          f"{type(error).__name__}: {error}. Is it a complete PyTorch .pt file?") from error


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and torchfile.is_tensor_like(v) for k, v in obj.items())


def _materialize(sd: Mapping[str, Any], path: str) -> StateDict:
    try:
        return torchfile.materialize(dict(sd))
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"cannot read the tensors of {path}: {type(e).__name__}: {e}") from e


def _describe(obj: Any) -> str:
    if isinstance(obj, Mapping):
        keys = list(obj.keys())
        return f"a dict with keys {keys[:10]}{' ...' if len(keys) > 10 else ''}"
    return f"a {type(obj).__name__}"


def _strip_module_prefix(sd: Mapping[str, torch.Tensor], path: str) -> Tuple[StateDict, bool]:
    prefixed = [k.startswith("module.") for k in sd]
    if not any(prefixed):
        return dict(sd), False
    if not all(prefixed):
        mixed = [k for k in sd if not k.startswith("module.")][:5]
        raise CheckpointError(f"{path}: some keys have the 'module.' prefix and some do not, e.g. {mixed}")
    return {k[len("module."):]: v for k, v in sd.items()}, True


def toklip_state_dict(obj: Any, path: str) -> Tuple[StateDict, str]:
    if isinstance(obj, Mapping) and "state_dict" in obj:
        sd, layout = obj["state_dict"], "checkpoint['state_dict']"
    elif _is_state_dict(obj):
        sd, layout = obj, "bare state dict"
    else:
        raise CheckpointError(f"{path} is not a TokLIP checkpoint: expected a dict with 'state_dict' "
                              f"or a state dict of tensors, found {_describe(obj)}")
    if not _is_state_dict(sd):
        raise CheckpointError(f"{path}: {layout} is not a mapping of names to tensors ({_describe(sd)})")
    sd, stripped = _strip_module_prefix(sd, path)
    return _materialize(sd, path), layout + (", 'module.' prefix" if stripped else "")


def vq_state_dict(obj: Any, path: str, prefer: Optional[str] = None) -> Tuple[StateDict, str]:
    """LlamaGen file: 'ema', else 'model', else 'state_dict' (or `prefer`), else a bare state dict."""
    if isinstance(obj, Mapping):
        order = ([prefer] if prefer else []) + [k for k in VQ_WRAPPER_KEYS if k != prefer]
        for key in order:
            if key in obj and _is_state_dict(obj[key]):
                sd, _ = _strip_module_prefix(obj[key], path)
                return _materialize(sd, path), f"checkpoint['{key}']"
    if _is_state_dict(obj):
        sd, _ = _strip_module_prefix(obj, path)
        return _materialize(sd, path), "bare state dict"
    raise CheckpointError(f"{path} is not a LlamaGen VQ checkpoint: expected a dict with 'ema', "
                          f"'model' or 'state_dict', found {_describe(obj)}")


# --- hyper-parameters from shapes ----------------------------------------------------------

def _count(sd: Mapping[str, torch.Tensor], pattern: str) -> Optional[int]:
    """1 + the largest index matched by the group in `pattern` (None when no key matches)."""
    rx = re.compile(pattern)
    found = [int(m.group(1)) for k in sd for m in [rx.match(k)] if m]
    return max(found) + 1 if found else None


def _shape(sd, key) -> Optional[Tuple[int, ...]]:
    t = sd.get(key)
    return tuple(t.shape) if t is not None else None


def infer_vq(sd: Mapping[str, torch.Tensor], default: VQConfig, norm_groups: int) -> VQConfig:
    p = re.escape(VQ_PREFIX)
    values: Dict[str, Any] = {}
    conv_in = _shape(sd, VQ_PREFIX + "encoder.conv_in.weight")
    if conv_in:
        values["base_channels"] = conv_in[0]
    levels = _count(sd, p + r"encoder\.conv_blocks\.(\d+)\.")
    base = values.get("base_channels", default.base_channels)
    if levels:
        mults = []
        for i in range(levels):
            s = _shape(sd, f"{VQ_PREFIX}encoder.conv_blocks.{i}.res.0.conv1.weight")
            if s is None or s[0] % base:
                mults = None
                break
            mults.append(s[0] // base)
        if mults:
            values["channel_multipliers"] = tuple(mults)
    enc = _count(sd, p + r"encoder\.conv_blocks\.0\.res\.(\d+)\.")
    dec = _count(sd, p + r"decoder\.conv_blocks\.0\.res\.(\d+)\.")
    if enc:
        values["encoder_res_blocks"] = enc
    if dec:
        values["decoder_res_blocks"] = dec
    conv_out = _shape(sd, VQ_PREFIX + "encoder.conv_out.weight")
    if conv_out:
        values["z_channels"] = conv_out[0]
    codebook = _shape(sd, VQ_PREFIX + "quantize.embedding.weight")
    if codebook and len(codebook) == 2:
        values["codebook_size"], values["codebook_dim"] = codebook
    used = _shape(sd, VQ_PREFIX + "quantize.codebook_used")
    if used and len(used) == 1:
        values["codebook_used_size"] = used[0]
    values["norm_groups"] = norm_groups
    return dataclasses.replace(default, **values)


def infer_vision(sd, default: VisionConfig, heads: int) -> VisionConfig:
    values: Dict[str, Any] = {"heads": heads}
    pos = _shape(sd, TRUNK + "pos_embed")
    if pos and len(pos) == 3:
        values["num_tokens"], values["width"] = pos[1], pos[2]
    depth = _count(sd, re.escape(TRUNK) + r"blocks\.(\d+)\.")
    if depth:
        values["depth"] = depth
    for name, key in (("mlp_hidden", "blocks.0.mlp.fc1.weight"), ("token_mlp_hidden", "vq_table.weight"),
                      ("pool_mlp_hidden", "attn_pool.mlp.fc1.weight")):
        s = _shape(sd, TRUNK + key)
        if s:
            values[name] = s[0]
    return dataclasses.replace(default, **values)


def infer_text(sd, default: Optional[TextConfig], heads: int) -> Optional[TextConfig]:
    if not any(k.startswith("text.") for k in sd):
        return None
    base = default or TextConfig()
    values: Dict[str, Any] = {"heads": heads}
    emb = _shape(sd, "text.token_embedding.weight")
    if emb and len(emb) == 2:
        values["vocab_size"], values["width"] = emb
    pos = _shape(sd, "text.positional_embedding")
    if pos:
        values["context_length"] = pos[0]
    depth = _count(sd, r"text\.transformer\.resblocks\.(\d+)\.")
    if depth:
        values["depth"] = depth
    fc = _shape(sd, "text.transformer.resblocks.0.mlp.c_fc.weight")
    if fc:
        values["mlp_hidden"] = fc[0]
    proj = _shape(sd, "text.text_projection.weight")
    if proj:
        values["embed_dim"] = proj[0]
    return dataclasses.replace(base, **values)


def infer_config(sd: Mapping[str, torch.Tensor], *, preset: Optional[str] = None, vision_heads: int = 16,
                 text_heads: int = 16, norm_groups: int = 32) -> TokLIPConfig:
    """Every shape-determined hyper-parameter from the tensors; the preset (or toklip-s-256)
    only fills what the checkpoint lacks, and a checkpoint that contradicts an explicitly
    chosen preset is an error."""
    if preset is not None and preset not in PRESETS:
        raise CheckpointError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    default = PRESETS[preset or "toklip-s-256"]
    try:
        vq = infer_vq(sd, default.vq, norm_groups)
        vision = infer_vision(sd, default.vision, vision_heads)
        text = infer_text(sd, default.text, text_heads)
        grid = math.isqrt(vision.num_tokens)
        if grid * grid != vision.num_tokens:
            raise CheckpointError(f"visual.trunk.pos_embed has {vision.num_tokens} rows, not a square "
                                  f"number of tokens")
        cfg = TokLIPConfig(image_size=grid * vq.downsample_factor, vq=vq, vision=vision, text=text)
    except CheckpointError:
        raise
    except ValueError as e:
        raise CheckpointError(f"cannot build the architecture read from the checkpoint: {e}") from e
    if preset is not None:
        check_preset(cfg, preset)
    return cfg


def _flatten(prefix: str, value: Any) -> Dict[str, Any]:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flatten(f"{prefix}.{k}" if prefix else k, v))
        return out
    return {prefix: value}


def check_preset(cfg: TokLIPConfig, preset: str) -> None:
    # Head counts and GroupNorm groups cannot be read from shapes: they are never "contradicted".
    # A checkpoint without a text tower is allowed (the bundle then has no text_encoder).
    unreadable = {"vq.norm_groups", "vision.heads", "text.heads", "logit_bias"}
    mine, theirs = cfg.to_dict(), PRESETS[preset].to_dict()
    if mine["text"] is None:
        theirs["text"] = None
    got, want = _flatten("", mine), _flatten("", theirs)
    diffs = [f"{k} = {got.get(k)} (preset {want.get(k)})" for k in sorted(set(got) | set(want))
             if k not in unreadable and got.get(k) != want.get(k)]
    if diffs:
        raise CheckpointError(f"the checkpoint contradicts preset {preset}: " + "; ".join(diffs))


# --- strict loading -------------------------------------------------------------------------

def _listing(title: str, items: List[str]) -> str:
    shown = items[:MAX_LISTED]
    more = f", ... ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
    return f"{title} ({len(items)}): " + ", ".join(shown) + more


def check_keys(sd: Mapping[str, torch.Tensor], model: TokLIP, what: str) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in sd and k not in ALLOWED_MISSING]
    unexpected = [k for k in sd if k not in expected]
    wrong = [f"{k} {list(sd[k].shape)} (expected {list(expected[k])})" for k in expected
             if k in sd and tuple(sd[k].shape) != expected[k]]
    problems = []
    if missing:
        problems.append(_listing("missing keys", missing))
    if unexpected:
        problems.append(_listing("unexpected keys", unexpected))
    if wrong:
        problems.append(_listing("shape mismatches", wrong))
    if problems:
        raise CheckpointError(f"{what} does not match the architecture read from its shapes:\n  "
                              + "\n  ".join(problems))


@torch.no_grad()
def assign_weights(model: TokLIP, sd: Mapping[str, torch.Tensor]) -> None:
    """Point every parameter at the checkpoint tensor (no copy: the loaded or memory-mapped
    tensors become the model's storage). Allowed-missing entries get their official values."""
    for name, tensor in model.named_parameters():
        if name in sd:
            tensor.data = sd[name].detach().to(torch.float32)
    for name, buf in model.named_buffers():
        if name in sd:
            buf.data = sd[name].detach().to(torch.float32)
    if model.logit_bias is not None and "logit_bias" not in sd:
        model.logit_bias.data = torch.tensor(-10.0)
    if VQ_PREFIX + "quantize.codebook_used" not in sd:
        model.vq.quantize.codebook_used.data = torch.zeros_like(model.vq.quantize.codebook_used, device="cpu")


def _vq_keys(sd: Mapping[str, torch.Tensor]) -> List[str]:
    return [k for k in sd if k.startswith(VQ_PREFIX)]


def cross_check_vq(toklip_sd: StateDict, vq_obj: Any, vq_path: str, vq_sd: StateDict, layout: str) -> str:
    """The TokLIP file's embedded VQ must equal the LlamaGen file (some entry of it)."""
    def differences(candidate: StateDict) -> List[str]:
        out = []
        for k, t in candidate.items():
            if k == "quantize.codebook_used":
                continue
            own = toklip_sd.get(VQ_PREFIX + k)
            if own is None or own.shape != t.shape:
                out.append(f"{k} (absent or shaped differently)")
            elif not torch.equal(own, t):
                out.append(f"{k} (max abs diff {float((own.float() - t.float()).abs().max()):.3g})")
        for k in _vq_keys(toklip_sd):
            if k[len(VQ_PREFIX):] not in candidate and not k.endswith("codebook_used"):
                out.append(f"{k[len(VQ_PREFIX):]} (only in the TokLIP file)")
        return out

    diffs = differences(vq_sd)
    if not diffs:
        return f"the embedded VQ equals {os.path.basename(vq_path)} {layout}"
    if isinstance(vq_obj, Mapping):
        for key in VQ_WRAPPER_KEYS:
            if key in vq_obj and _is_state_dict(vq_obj[key]) and f"'{key}'" not in layout:
                other, _ = _strip_module_prefix(vq_obj[key], vq_path)
                if not differences(_materialize(other, vq_path)):
                    return (f"the embedded VQ equals {os.path.basename(vq_path)} checkpoint['{key}'] "
                            f"(not {layout})")
    raise CheckpointError(f"the VQ weights inside the TokLIP checkpoint differ from {vq_path} {layout}:\n  "
                          + _listing("differences", diffs)
                          + "\n  Leave out --vq-checkpoint to export the embedded VQ (as the official code does).")


def load_toklip(path: str, *, vq_path: Optional[str] = None, preset: Optional[str] = None,
                vision_heads: int = 16, text_heads: int = 16, norm_groups: int = 32) -> LoadedModel:
    """Read a TokLIP checkpoint (and optionally a LlamaGen VQ file) into a float32 TokLIP model."""
    notes: List[str] = []
    obj = read_checkpoint(path, notes)
    sd, layout = toklip_state_dict(obj, path)
    del obj  # optimizer state and anything else next to the weights is never read
    sources = [SourceFile("toklip", path, layout)]
    notes.insert(0, f"{os.path.basename(path)}: {layout}, {len(sd)} tensors")
    if vq_path is not None:
        vq_obj = read_checkpoint(vq_path, notes)
        vq_sd, vq_layout = vq_state_dict(vq_obj, vq_path)
        sources.append(SourceFile("vq", vq_path, vq_layout))
        if _vq_keys(sd):
            notes.append(cross_check_vq(sd, vq_obj, vq_path, vq_sd, vq_layout))
        else:
            sd.update({VQ_PREFIX + k: v for k, v in vq_sd.items()})
            notes.append(f"VQ weights from {os.path.basename(vq_path)} {vq_layout}")
        del vq_obj, vq_sd
    elif not _vq_keys(sd):
        raise CheckpointError(f"{path} has no {VQ_PREFIX}* weights: pass --vq-checkpoint vq_ds16_t2i.pt")
    if not any(k.startswith(TRUNK) and not k.startswith(VQ_PREFIX) for k in sd):
        raise CheckpointError(f"{path} has no {TRUNK}* weights besides the VQ: not a TokLIP checkpoint")
    cfg = infer_config(sd, preset=preset, vision_heads=vision_heads, text_heads=text_heads,
                       norm_groups=norm_groups)
    model = build_model(cfg, init="none")
    check_keys(sd, model, path)
    assign_weights(model, sd)
    return LoadedModel(model.eval(), cfg, sources, notes)


def random_model(preset: str, *, seed: int = 0, vision_heads: int = 16, text_heads: int = 16,
                 config: Optional[TokLIPConfig] = None) -> LoadedModel:
    """--random-init: the preset's full-size model with seeded random weights (benchmarks)."""
    if config is None:
        if preset not in PRESETS:
            raise CheckpointError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        base = PRESETS[preset]
        config = dataclasses.replace(
            base, vision=dataclasses.replace(base.vision, heads=vision_heads),
            text=dataclasses.replace(base.text, heads=text_heads) if base.text else None)
    return LoadedModel(build_model(config, init="random", seed=seed), config, [],
                       [f"random weights, preset {preset}, seed {seed}"])
