"""Writes a model bundle folder (docs/bundle-format.md): graphs, tokenizer, golden/, manifest."""
from __future__ import annotations

import datetime
import gc
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import onnx
import torch

from . import __version__
from . import onnx_export as ox
from .config import TokLIPConfig
from .convert import LoadedModel, sha256_file
from .fp16 import convert_float16
from .golden import write_golden
from .jsonfmt import write_json
from .tokenizer import TextSettings

FORMAT_VERSION = 1
# Protobuf files cannot exceed 2 GiB; graphs with more weight bytes than this keep their
# initializers in one external file <graph>.onnx.data.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000
DTYPES = ("float32", "float16")


@dataclass
class ExportOptions:
    name: str
    dtype: str = "float32"
    tokenizer: Optional[str] = None
    golden: bool = False
    description: Optional[str] = None
    # semantic_encoder input stage: "table" (gather of precomputed token-MLP rows) or "mlp"
    token_embedding: str = "table"
    # float16 bundles: keep the whole vq_encoder in float32 (ids as in float32; slower)
    float32_vq_encoder: bool = False
    # free each torch module once its graph is written (large models; the model is unusable after)
    release_modules: bool = False
    log: Callable[[str], None] = print


def initializer_bytes(model: onnx.ModelProto) -> int:
    total = 0
    for t in model.graph.initializer:
        total += len(t.raw_data) if t.raw_data else onnx.numpy_helper.to_array(t).nbytes
    return total


def save_graph(model: onnx.ModelProto, folder: str, name: str) -> List[str]:
    """Saves <name>.onnx (+ <name>.onnx.data above the threshold), checks it, returns the
    external data file names."""
    path = os.path.join(folder, f"{name}.onnx")
    external: List[str] = []
    if initializer_bytes(model) > EXTERNAL_DATA_THRESHOLD:
        external = [f"{name}.onnx.data"]
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=external[0], size_threshold=1024)
    else:
        onnx.save_model(model, path)
    return external  # validate.check_bundle runs onnx.checker on the written files


def file_entry(path: str) -> dict:
    return {"sha256": sha256_file(path), "size": os.path.getsize(path)}


def _torch_export(make_module: Callable[[], torch.nn.Module], spec: ox.GraphSpec, cfg: TokLIPConfig,
                  input_names=None, output_names=None, dynamic_axes=None, args=None,
                  release: Callable[[], None] = lambda: None) -> onnx.ModelProto:
    """Exports through a scratch file; `release` runs between the export and the load, so the
    torch weights and the ONNX copy of them are not both in memory (the wrapper module is
    built here so that no caller frame keeps it alive)."""
    module = make_module()
    with tempfile.TemporaryDirectory(prefix="toklip-export-") as work:
        path = os.path.join(work, "model.onnx")
        ox.export_module(
            module, args if args is not None else ox.example_inputs(spec, cfg),
            input_names or [t.name for t in spec.inputs], output_names or [t.name for t in spec.outputs],
            dynamic_axes if dynamic_axes is not None else spec.dynamic_axes(), path)
        del module
        release()
        model = onnx.load(path, load_external_data=True)
    model.graph.name = spec.name
    return model


def export_graphs(loaded: LoadedModel, folder: str, opts: ExportOptions) -> Dict[str, dict]:
    """Exports every graph (largest first, so released modules free the most memory early)."""
    cfg, model = loaded.config, loaded.model
    specs = ox.graph_specs(cfg)
    written: Dict[str, dict] = {}
    fp16 = opts.dtype == "float16"

    def finish(spec: ox.GraphSpec, proto: onnx.ModelProto, compute_dtype: str) -> None:
        proto.producer_name, proto.producer_version = "toklip-serve tools/export", __version__
        proto.doc_string = f"{opts.name} {spec.name} ({opts.dtype})"
        ox.set_io_shapes(proto, spec)
        external = save_graph(proto, folder, spec.name)
        written[spec.name] = {"file": spec.file, "external_data": external, "compute_dtype": compute_dtype,
                              "inputs": [t.to_json() for t in spec.inputs],
                              "outputs": [t.to_json() for t in spec.outputs]}
        opts.log(f"  {spec.file}: {sum(os.path.getsize(os.path.join(folder, f)) for f in [spec.file] + external) / 1e6:.1f} MB")

    def release(*names: str) -> Callable[[], None]:
        def run() -> None:
            if opts.release_modules:
                for n in names:
                    parent, attr = n.rsplit(".", 1) if "." in n else ("", n)
                    owner = model
                    for part in filter(None, parent.split(".")):
                        owner = getattr(owner, part)
                    setattr(owner, attr, None)
                gc.collect()
        return run

    # (graph, wrapper module, torch modules no later graph needs)
    plain = [("text_encoder", lambda: ox.TextEncoder(model.text), ("text",)),
             ("semantic_encoder", lambda: ox.SemanticEncoder(model.trunk, opts.token_embedding),
              ("visual.trunk.blocks", "visual.trunk.attn_pool")),
             ("vq_decoder", lambda: ox.VQDecoder(model.vq, cfg.grid), ("visual.trunk.vq.decoder",))]
    for name, make, done in plain:
        if name not in specs:
            continue
        proto = _torch_export(make, specs[name], cfg, release=release(*done))
        if fp16:
            convert_float16(proto)
        finish(specs[name], proto, opts.dtype)
        del proto
        gc.collect()

    # vq_encoder = encoder (converted in float16 bundles) + quantiser (always float32, so that
    # ids match the reference), exported separately and chained.
    spec = specs["vq_encoder"]
    encoder = _torch_export(lambda: ox.VQEncoderZ(model.vq), spec, cfg, output_names=["z"],
                            dynamic_axes={"pixels": {0: ox.BATCH}, "z": {0: ox.BATCH}})
    z = torch.randn(2, cfg.vq.codebook_dim, cfg.grid, cfg.grid, generator=torch.Generator().manual_seed(0))
    quantiser = _torch_export(lambda: ox.Quantiser(model.vq), spec, cfg, input_names=["z"],
                              dynamic_axes={"z": {0: ox.BATCH}, "ids": {0: ox.BATCH}}, args=(z,),
                              release=release("visual.trunk.vq.encoder"))
    encoder_fp16 = fp16 and not opts.float32_vq_encoder
    if encoder_fp16:
        convert_float16(encoder)
    proto = ox.merge_sequential(encoder, quantiser, "z", "quantiser/")
    proto.graph.name = spec.name
    finish(spec, proto, "float16 (quantiser in float32)" if encoder_fp16 else "float32")
    return {k: written[k] for k in ("vq_encoder", "semantic_encoder", "vq_decoder", "text_encoder") if k in written}


def architecture(cfg: TokLIPConfig) -> dict:
    vq, v, t = cfg.vq, cfg.vision, cfg.text
    return {
        "vq": {"base_channels": vq.base_channels, "channel_multipliers": list(vq.channel_multipliers),
               "encoder_res_blocks": vq.encoder_res_blocks, "decoder_res_blocks": vq.decoder_res_blocks,
               "z_channels": vq.z_channels, "norm_groups": vq.norm_groups},
        "vision": {"width": v.width, "depth": v.depth, "heads": v.heads, "mlp_hidden": v.mlp_hidden,
                   "token_mlp_hidden": v.token_mlp_hidden, "pool_mlp_hidden": v.pool_mlp_hidden},
        "text": None if t is None else {
            "width": t.width, "depth": t.depth, "heads": t.heads, "mlp_hidden": t.mlp_hidden,
            "vocab_size": t.vocab_size},
    }


def build_manifest(loaded: LoadedModel, opts: ExportOptions, graphs: Dict[str, dict],
                   text_settings: Optional[TextSettings], random_init: Optional[dict]) -> dict:
    cfg, model = loaded.config, loaded.model
    scale = float(f"{float(model.logit_scale.detach().exp()):.7g}")  # float32 precision
    fp16 = opts.dtype == "float16"
    return {
        "format": "toklip-bundle",
        "format_version": FORMAT_VERSION,
        "name": opts.name,
        "description": opts.description or default_description(loaded, opts),
        "exporter": {"tool": "tools/export", "version": __version__, "torch": torch.__version__,
                     "onnx": onnx.__version__,
                     "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
        "source": {"random_init": random_init,
                   "checkpoints": [s.to_manifest() for s in loaded.sources]},
        "architecture": architecture(cfg),
        "image_size": cfg.image_size,
        "patch_size": cfg.patch_size,
        "grid": [cfg.grid, cfg.grid],
        "num_tokens": cfg.num_tokens,
        "codebook": {"size": cfg.vq.codebook_size, "dim": cfg.vq.codebook_dim},
        "embedding_dim": cfg.embedding_dim,
        "preprocessing": {"resize": "shortest", "interpolation": "bicubic", "crop": "center",
                          "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
        "postprocessing": {"pixels": "uint8(clamp(127.5*x + 128, 0, 255)), truncating"},
        "text": None if text_settings is None else text_settings.to_manifest(
            "tokenizer.json" if opts.tokenizer else None),
        "logit_scale": scale,
        "score": {"convention": "softmax", "scale": 100.0,
                  "description": "probabilities = softmax over texts of 100*cos"},
        "dtype": opts.dtype,
        "compute_dtype": compute_dtype_summary(opts),
        "io_dtype": "float32",
        "semantic_encoder_input": opts.token_embedding,
        "graphs": graphs,
        "files": {},
        "golden": "golden/manifest.json" if opts.golden else None,
    }


def compute_dtype_summary(opts: ExportOptions) -> str:
    if opts.dtype == "float32":
        return "float32"
    return "float16 (vq_encoder in float32)" if opts.float32_vq_encoder else "float16 (vq quantiser in float32)"


def default_description(loaded: LoadedModel, opts: ExportOptions) -> str:
    toklip = [s for s in loaded.sources if s.role == "toklip"]
    origin = f"exported from {os.path.basename(toklip[0].path)}" if toklip else "random weights (benchmarks only)"
    return f"TokLIP {loaded.config.image_size}px {origin}, {opts.dtype}"


def list_files(folder: str) -> Dict[str, dict]:
    out = {}
    for root, _, files in os.walk(folder):
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(root, f), folder).replace(os.sep, "/")
            if rel != "manifest.json":
                out[rel] = file_entry(os.path.join(folder, rel))
    return dict(sorted(out.items()))


def write_bundle(loaded: LoadedModel, out_dir: str, opts: ExportOptions,
                 random_init: Optional[dict] = None) -> dict:
    """Writes the bundle into out_dir (created; must be empty or absent). Returns the manifest."""
    if opts.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, not {opts.dtype!r}")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise FileExistsError(f"{out_dir} exists and is not empty")
    os.makedirs(out_dir, exist_ok=True)
    cfg = loaded.config
    text_settings = None
    if cfg.text is not None:
        text_settings = (TextSettings.from_tokenizer_json(opts.tokenizer, cfg.text.context_length, cfg.text.vocab_size)
                         if opts.tokenizer else TextSettings.defaults(cfg.text.context_length))
        if opts.tokenizer:
            shutil.copyfile(opts.tokenizer, os.path.join(out_dir, "tokenizer.json"))
    if opts.golden:
        opts.log("golden data (PyTorch, float32)")
        write_golden(loaded.model, os.path.join(out_dir, "golden"), dtype=opts.dtype,
                     text_settings=text_settings, tokenizer_path=opts.tokenizer)
    opts.log(f"graphs ({opts.dtype})")
    manifest = build_manifest(loaded, opts, {}, text_settings, random_init)  # before modules are released
    manifest["graphs"] = export_graphs(loaded, out_dir, opts)
    manifest["files"] = list_files(out_dir)
    write_json(os.path.join(out_dir, "manifest.json"), manifest)
    return manifest
