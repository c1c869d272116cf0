"""TokLIP semantic encoder `visual.trunk` (spec section 3): a timm VisionTransformer without
patch embedding, fed by the VQ codes through a token MLP, with causal pre-LN blocks and a MAP
attention-pool head. Parameter names follow timm so that the official keys load strictly.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import TokLIPConfig, VisionConfig
from .vq import VQModel

LN_EPS = 1e-6
# Additive causal-mask value: exp() underflows to exactly 0 in float32 and in float16, and it
# stays finite in float16 (an all-masked row cannot occur: every token sees itself).
MASK_VALUE = -30000.0


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def layer_norm(width: int) -> nn.LayerNorm:
    return nn.LayerNorm(width, eps=LN_EPS)


def causal_mask(n: int) -> torch.Tensor:
    """(n,n) additive mask: 0 where key j <= query i, MASK_VALUE above the diagonal."""
    return torch.full((n, n), MASK_VALUE).triu(1)


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(gelu_tanh(self.fc1(x)))


# Reshapes below take their leading sizes from the reshaped tensor itself and leave the rest
# constant or -1, so that onnxruntime's ReshapeFusion turns each exported shape computation into
# a constant [0, 0, ...]: no shape arithmetic is left for the CPU next to a CUDA graph
# (docs/export.md, CUDA coverage).
def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B,T,H*d) -> (B,H,T,d); heads are contiguous slices of the features."""
    return x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B,H,T,d) -> (B,T,H*d)."""
    y = x.transpose(1, 2)
    return y.reshape(y.shape[0], y.shape[1], -1)


def split_last(x: torch.Tensor, width: int, parts: int) -> Tuple[torch.Tensor, ...]:
    """x[..., :width], x[..., width:2*width], ...: constant slices (chunk() would be exported
    as arithmetic on the tensor's shape)."""
    return tuple(x[..., i * width:(i + 1) * width] for i in range(parts))


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None,
              scale: Optional[float] = None) -> torch.Tensor:
    """softmax(scale * q k^T + mask) v on (B,H,T,d) tensors; the mask is added before softmax.
    scale defaults to 1/sqrt(d); pass a Python float (or 1.0 for pre-scaled q) so that the
    exported graph holds a constant instead of arithmetic on shapes."""
    if scale is None:
        scale = float(q.shape[-1]) ** -0.5
    if scale != 1.0:
        q = q * scale
    scores = torch.matmul(q, k.transpose(-2, -1))
    if mask is not None:
        scores = scores + mask
    return torch.matmul(torch.softmax(scores, dim=-1), v)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.width = width
        self.scale = (width // heads) ** -0.5
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        q, k, v = split_last(self.qkv(x), self.width, 3)  # features ordered [q | k | v]
        out = attention(split_heads(q, self.heads), split_heads(k, self.heads),
                        split_heads(v, self.heads), mask, self.scale)
        return self.proj(merge_heads(out))


class Block(nn.Module):
    """Pre-LN transformer block with a tanh-GELU MLP."""

    def __init__(self, width: int, heads: int, mlp_hidden: int):
        super().__init__()
        self.norm1 = layer_norm(width)
        self.attn = Attention(width, heads)
        self.norm2 = layer_norm(width)
        self.mlp = Mlp(width, mlp_hidden)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class AttentionPoolLatent(nn.Module):
    """MAP head: one learned latent query attends (unmasked) to all tokens; no latent residual."""

    def __init__(self, width: int, heads: int, mlp_hidden: int):
        super().__init__()
        self.heads = heads
        self.width = width
        self.latent = nn.Parameter(torch.zeros(1, 1, width))
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.proj = nn.Linear(width, width)
        self.norm = layer_norm(width)
        self.mlp = Mlp(width, mlp_hidden)

    def query(self) -> torch.Tensor:
        """The latent query split into heads and pre-scaled by 1/sqrt(d): (1,H,1,d). It depends
        on weights only, so exported graphs take it as a constant."""
        width = self.latent.shape[-1]
        return split_heads(self.q(self.latent), self.heads) * (width // self.heads) ** -0.5

    def forward(self, x: torch.Tensor, query: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x (B,T,D) -> pooled (B,D); `query` is a precomputed self.query()."""
        q = self.query() if query is None else query  # broadcast over the batch
        k, v = split_last(self.kv(x), self.width, 2)  # [k | v]
        out = attention(q, split_heads(k, self.heads), split_heads(v, self.heads), scale=1.0)
        p = self.proj(merge_heads(out))  # (B,1,D)
        p = p + self.mlp(self.norm(p))
        return p[:, 0]


class SemanticViT(nn.Module):
    """`visual.trunk`: VQ codes -> token MLP -> +pos_embed -> causal blocks -> LN -> MAP pool."""

    def __init__(self, cfg: TokLIPConfig):
        super().__init__()
        v: VisionConfig = cfg.vision
        self.config = cfg
        self.pos_embed = nn.Parameter(torch.zeros(1, v.num_tokens, v.width))
        self.blocks = nn.ModuleList(Block(v.width, v.heads, v.mlp_hidden) for _ in range(v.depth))
        self.norm = layer_norm(v.width)
        self.attn_pool = AttentionPoolLatent(v.width, v.heads, v.pool_mlp_hidden)
        self.vq = VQModel(cfg.vq)
        self.vq_table = nn.Linear(cfg.vq.codebook_dim, v.token_mlp_hidden)
        self.vq_mapping = nn.Linear(v.token_mlp_hidden, v.width)
        self.register_buffer("causal_mask", causal_mask(v.num_tokens), persistent=False)

    def token_mlp(self, codes: torch.Tensor) -> torch.Tensor:
        """Unit code vectors (...,C) -> token embeddings (...,D); exact (erf) GELU."""
        return self.vq_mapping(F.gelu(self.vq_table(codes), approximate="none"))

    def token_table(self) -> torch.Tensor:
        """token_mlp of every normalised codebook row: (codebook_size, D)."""
        return self.token_mlp(self.vq.quantize.normalized_codebook())

    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B,T) -> token embeddings (B,T,D) via the normalised codebook."""
        return self.token_mlp(self.vq.quantize.lookup(ids))

    def embed_quant(self, quant: torch.Tensor) -> torch.Tensor:
        """quant (B,C,g,g) -> token embeddings (B,g*g,D) in raster order."""
        return self.token_mlp(quant.flatten(2).transpose(1, 2))

    def forward_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token embeddings (B,T,D), T <= N a raster-order prefix -> per-token features (B,T,D)."""
        t = tokens.shape[1]
        x = tokens + self.pos_embed[:, :t]
        mask = self.causal_mask[:t, :t]
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)

    def pool(self, features: torch.Tensor, query: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.attn_pool(features, query)

    def encode_ids(self, ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """ids (B,T) -> (features (B,T,D), embedding (B,D))."""
        features = self.forward_features(self.embed_ids(ids))
        return features, self.pool(features)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels (B,3,R,R) in [-1,1] -> image embedding (B,D), not normalised (official path:
        straight-through quant into the token MLP)."""
        quant, _ = self.vq.encode(pixels)
        return self.pool(self.forward_features(self.embed_quant(quant)))
