"""open_clip TextTransformer of SigLIP2 as used by TokLIP (spec section 4): no attention mask,
pre-LN blocks with tanh GELU, final LayerNorm, pooling at the last position (index L-1, usually
a PAD token), projection with bias. Names follow open_clip so the official keys load strictly.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import TextConfig
from .vit import attention, gelu_tanh, layer_norm, merge_heads, split_heads, split_last


class MultiheadSelfAttention(nn.Module):
    """nn.MultiheadAttention's parameter layout (in_proj rows [q | k | v], out_proj), written
    out so that the exported graph is plain MatMul/Softmax."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.width = width
        self.scale = (width // heads) ** -0.5
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor, queries: slice = slice(None)) -> torch.Tensor:
        """Self-attention of x (B,L,D); only the query positions in `queries` are returned."""
        q, k, v = split_last(nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias), self.width, 3)
        out = attention(split_heads(q[:, queries], self.heads), split_heads(k, self.heads),
                        split_heads(v, self.heads), scale=self.scale)
        return self.out_proj(merge_heads(out))


class TextMlp(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.c_fc = nn.Linear(width, hidden)
        self.c_proj = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(gelu_tanh(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp_hidden: int):
        super().__init__()
        self.ln_1 = layer_norm(width)
        self.attn = MultiheadSelfAttention(width, heads)
        self.ln_2 = layer_norm(width)
        self.mlp = TextMlp(width, mlp_hidden)

    def forward(self, x: torch.Tensor, queries: slice = slice(None)) -> torch.Tensor:
        """With `queries`, only those positions are computed (keys/values still use all of x)."""
        x = x[:, queries] + self.attn(self.ln_1(x), queries)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.resblocks = nn.ModuleList(
            ResidualAttentionBlock(cfg.width, cfg.heads, cfg.mlp_hidden) for _ in range(cfg.depth))


class TextTransformer(nn.Module):
    """`text`: input_ids (B,L) -> text embedding (B,E), not normalised."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.config = cfg
        self.positional_embedding = nn.Parameter(torch.zeros(cfg.context_length, cfg.width))
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.transformer = Transformer(cfg)
        self.ln_final = layer_norm(cfg.width)
        self.text_projection = nn.Linear(cfg.width, cfg.embed_dim)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[1]
        x = self.token_embedding(input_ids) + self.positional_embedding[:length]
        blocks = self.transformer.resblocks
        for block in blocks[:-1]:
            x = block(x)
        # Pooling reads only position L-1, and every op after the last attention is per
        # position, so the last block computes that position alone (same result, less work).
        x = blocks[-1](x, queries=slice(-1, None)) if len(blocks) else x[:, -1:]
        return self.text_projection(self.ln_final(x[:, 0]))
