"""PyTorch modules -> ONNX graphs of the bundle (docs/bundle-format.md).

Each graph is a small wrapper module whose forward is exactly the bundle's I/O. Weights that
the graphs only ever use in a derived form (the l2-normalised codebook, its squared norms, the
token-MLP lookup table) are precomputed once here and stored as constants.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Sequence, Tuple

import torch
from torch import nn

from .config import TokLIPConfig
from .text import TextTransformer
from .vit import SemanticViT
from .vq import VQModel, channels_last_rows, l2_normalize

if TYPE_CHECKING:  # the graph modules run without onnx installed (bench/python/gpu_baseline.py)
    import onnx

OPSET = 17
BATCH = "batch"
TOKENS = "tokens"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # "float32" | "int64"
    shape: Tuple  # ints and axis names

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class GraphSpec:
    name: str
    inputs: Tuple[TensorSpec, ...]
    outputs: Tuple[TensorSpec, ...]

    @property
    def file(self) -> str:
        return f"{self.name}.onnx"

    def dynamic_axes(self) -> Dict[str, Dict[int, str]]:
        axes = {}
        for t in self.inputs + self.outputs:
            named = {i: d for i, d in enumerate(t.shape) if isinstance(d, str)}
            if named:
                axes[t.name] = named
        return axes


def graph_specs(cfg: TokLIPConfig) -> Dict[str, GraphSpec]:
    r, n, d = cfg.image_size, cfg.num_tokens, cfg.embedding_dim
    specs = {
        "vq_encoder": GraphSpec("vq_encoder", (TensorSpec("pixels", "float32", (BATCH, 3, r, r)),),
                                (TensorSpec("ids", "int64", (BATCH, n)),)),
        "semantic_encoder": GraphSpec(
            "semantic_encoder", (TensorSpec("ids", "int64", (BATCH, TOKENS)),),
            (TensorSpec("features", "float32", (BATCH, TOKENS, d)), TensorSpec("embedding", "float32", (BATCH, d)))),
        "vq_decoder": GraphSpec("vq_decoder", (TensorSpec("ids", "int64", (BATCH, n)),),
                                (TensorSpec("pixels", "float32", (BATCH, 3, r, r)),)),
    }
    if cfg.text is not None:
        specs["text_encoder"] = GraphSpec(
            "text_encoder", (TensorSpec("input_ids", "int64", (BATCH, cfg.text.context_length)),),
            (TensorSpec("embedding", "float32", (BATCH, cfg.text.embed_dim)),))
    return specs


# --- graph modules -------------------------------------------------------------------------

class VQEncoderZ(nn.Module):
    """pixels -> z (pre-quantisation), the part of vq_encoder that float16 bundles convert."""

    def __init__(self, vq: VQModel):
        super().__init__()
        self.encoder, self.quant_conv = vq.encoder, vq.quant_conv

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.quant_conv(self.encoder(pixels))


class Quantiser(nn.Module):
    """z (B,C,g,g) -> ids (B,g*g): distance form against the normalised codebook (a constant)."""

    def __init__(self, vq: VQModel):
        super().__init__()
        with torch.no_grad():
            codebook = vq.quantize.normalized_codebook().detach().clone()
        self.register_buffer("codebook_t", codebook.t().contiguous())  # (C, K)
        self.register_buffer("codebook_sq", codebook.pow(2).sum(-1))  # (K,)
        self.codebook_dim = int(codebook.shape[1])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        flat = l2_normalize(channels_last_rows(z, self.codebook_dim), dim=-1)
        distance = flat.pow(2).sum(-1, keepdim=True) + self.codebook_sq - 2.0 * torch.matmul(flat, self.codebook_t)
        return torch.argmin(distance, dim=-1)


class SemanticEncoder(nn.Module):
    """ids (B,T) -> features (B,T,D), embedding (B,D).

    token_embedding="table": one Gather from the precomputed token-MLP output of every code
    (spec 3.1); "mlp": Gather from the normalised codebook, then the token MLP.
    """

    def __init__(self, trunk: SemanticViT, token_embedding: str = "table"):
        super().__init__()
        self.trunk = trunk
        self.token_embedding = token_embedding
        with torch.no_grad():
            if token_embedding == "table":
                self.register_buffer("table", trunk.token_table().detach().clone())
            elif token_embedding == "mlp":
                self.register_buffer("codebook", trunk.vq.quantize.normalized_codebook().detach().clone())
            else:
                raise ValueError(f"token_embedding must be 'table' or 'mlp', not {token_embedding!r}")
            self.register_buffer("pool_query", trunk.attn_pool.query().detach().clone())

    def forward(self, ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.token_embedding == "table":
            tokens = nn.functional.embedding(ids, self.table)
        else:
            tokens = self.trunk.token_mlp(nn.functional.embedding(ids, self.codebook))
        features = self.trunk.forward_features(tokens)
        return features, self.trunk.pool(features, self.pool_query)


class VQDecoder(nn.Module):
    """ids (B,N) -> raw decoder output (B,3,R,R)."""

    def __init__(self, vq: VQModel, grid: int):
        super().__init__()
        self.grid = grid
        self.post_quant_conv, self.decoder = vq.post_quant_conv, vq.decoder
        with torch.no_grad():
            self.register_buffer("codebook", vq.quantize.normalized_codebook().detach().clone())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        quant = nn.functional.embedding(ids, self.codebook)
        quant = quant.reshape(quant.shape[0], self.grid, self.grid, -1).permute(0, 3, 1, 2)
        return self.decoder(self.post_quant_conv(quant))


class TextEncoder(nn.Module):
    def __init__(self, text: TextTransformer):
        super().__init__()
        self.text = text

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text(input_ids)


# --- export ---------------------------------------------------------------------------------

def example_inputs(spec: GraphSpec, cfg: TokLIPConfig, batch: int = 2) -> Tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for t in spec.inputs:
        shape = [batch if d == BATCH else (cfg.num_tokens if d == TOKENS else d) for d in t.shape]
        if t.dtype == "float32":
            out.append(torch.rand(shape, generator=gen) * 2 - 1)
        else:
            high = cfg.vq.codebook_size if t.name == "ids" else cfg.text.vocab_size
            out.append(torch.randint(0, high, shape, generator=gen))
    return tuple(out)


@contextlib.contextmanager
def _quiet_export():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about shapes that are fixed on purpose
        yield


def export_module(module: nn.Module, args: Sequence[torch.Tensor], input_names: List[str],
                  output_names: List[str], dynamic_axes: Dict[str, Dict[int, str]], path: str) -> None:
    """torch.onnx.export at opset 17 with constant folding into `path`. Graphs over 2 GB get
    one external file per tensor next to it (torch's choice); load with onnx.load(path)."""
    module.eval()
    with torch.no_grad(), _quiet_export():
        torch.onnx.export(module, tuple(args), path, opset_version=OPSET, do_constant_folding=True,
                          input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes)


def rename_for_merge(model: onnx.ModelProto, prefix: str, keep: Sequence[str]) -> None:
    """Prefix every node, edge and initializer name except `keep` (the graph's I/O names)."""
    keep = set(keep)

    def rn(name: str) -> str:
        return name if (not name or name in keep) else prefix + name.lstrip("/")

    g = model.graph
    for node in g.node:
        node.name = rn(node.name) if node.name else node.name
        node.input[:] = [rn(x) for x in node.input]
        node.output[:] = [rn(x) for x in node.output]
    for init in g.initializer:
        init.name = rn(init.name)
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        vi.name = rn(vi.name)


def merge_sequential(first: onnx.ModelProto, second: onnx.ModelProto, link: str,
                     prefix: str) -> onnx.ModelProto:
    """Chain two graphs: first's output `link` feeds second's input of the same name."""
    from onnx import helper

    keep = [link] + [o.name for o in second.graph.output]
    rename_for_merge(second, prefix, keep)
    g = helper.make_graph(
        nodes=list(first.graph.node) + list(second.graph.node),
        name=first.graph.name,
        inputs=list(first.graph.input),
        outputs=list(second.graph.output),
        initializer=list(first.graph.initializer) + list(second.graph.initializer),
        value_info=list(first.graph.value_info) + list(second.graph.value_info))
    merged = helper.make_model(g, opset_imports=list(first.opset_import))
    merged.ir_version = first.ir_version
    return merged


def set_io_shapes(model: onnx.ModelProto, spec: GraphSpec) -> None:
    """Writes the spec's shapes on the graph I/O: fixed axes as numbers, dynamic ones by name
    (the tracer leaves generated names such as 'ArgMinids_dim_1' on axes it cannot follow)."""
    declared = {t.name: t for t in spec.inputs + spec.outputs}
    for vi in list(model.graph.input) + list(model.graph.output):
        t = declared.get(vi.name)
        if t is None:
            raise ValueError(f"graph {spec.name} has I/O {vi.name} that the bundle format does not name")
        dims = vi.type.tensor_type.shape.dim
        del dims[:]
        for d in t.shape:
            dim = dims.add()
            if isinstance(d, str):
                dim.dim_param = d
            else:
                dim.dim_value = d
