"""LlamaGen VQ-16 tokenizer: encoder, l2-normalised quantiser and decoder (spec section 2).

Module and parameter names follow LlamaGen's vq_model.py so that `load_state_dict(strict=True)`
works on the official keys (`encoder.*`, `quant_conv.*`, `quantize.*`, `post_quant_conv.*`,
`decoder.*`).
"""
from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import VQConfig

L2_EPS = 1e-12
NORM_EPS = 1e-6


def l2_normalize(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """x / max(||x||_2, 1e-12), as F.normalize (LpNormalization has no eps)."""
    return F.normalize(x, p=2.0, dim=dim, eps=L2_EPS)


def flatten_positions(x: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W) -> (B,C,H*W). The sizes come from x itself, so that onnxruntime's ReshapeFusion
    makes the exported shape a constant [0, 0, -1] (no shape arithmetic on the CPU)."""
    return x.reshape(x.shape[0], x.shape[1], -1)


def channels_last_rows(z: torch.Tensor, channels: int) -> torch.Tensor:
    """(B,C,g,g) -> (B,g*g,C), raster order; `channels` is C as a constant (same reason)."""
    p = z.permute(0, 2, 3, 1)
    return p.reshape(p.shape[0], -1, channels)


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    # torch exports GroupNorm (opset < 18) as Reshape -> InstanceNormalization -> Reshape -> per-channel Mul/Add.
    return nn.GroupNorm(groups, channels, eps=NORM_EPS, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, groups: int):
        super().__init__()
        self.norm1 = group_norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = group_norm(out_channels, groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        shortcut = self.nin_shortcut(x) if self.nin_shortcut is not None else x
        return shortcut + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions (row-major)."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.scale = channels ** -0.5
        self.norm = group_norm(channels, groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(x)
        q = flatten_positions(self.q(y)).transpose(1, 2)  # (B, HW, C)
        k = flatten_positions(self.k(y))  # (B, C, HW)
        v = flatten_positions(self.v(y))  # (B, C, HW)
        weights = torch.softmax(torch.bmm(q, k) * self.scale, dim=2)  # (B, HW_q, HW_k)
        out = torch.bmm(v, weights.transpose(1, 2)).reshape_as(x)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Zero-pad one row/column at the bottom/right, then a 3x3 stride-2 conv without padding."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0.0))


class Upsample(nn.Module):
    """Nearest-neighbour x2 (pixel replication), then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """One resolution level; attribute names (res, attn, downsample/upsample) match LlamaGen."""

    def __init__(self, res: List[nn.Module], attn: List[nn.Module]):
        super().__init__()
        self.res = nn.ModuleList(res)
        self.attn = nn.ModuleList(attn)

    def run(self, h: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.res):
            h = block(h)
            if len(self.attn) > 0:
                h = self.attn[i](h)
        return h


class Encoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        g, ch = cfg.norm_groups, cfg.channels
        levels = len(ch)
        self.conv_in = nn.Conv2d(3, cfg.base_channels, 3, 1, 1)
        self.conv_blocks = nn.ModuleList()
        block_in = cfg.base_channels
        for i in range(levels):
            res, attn = [], []
            for _ in range(cfg.encoder_res_blocks):
                res.append(ResnetBlock(block_in, ch[i], g))
                block_in = ch[i]
                if i == levels - 1:
                    attn.append(AttnBlock(block_in, g))
            level = _Level(res, attn)
            if i != levels - 1:
                level.downsample = Downsample(block_in)
            self.conv_blocks.append(level)
        self.mid = nn.ModuleList([ResnetBlock(block_in, block_in, g), AttnBlock(block_in, g),
                                  ResnetBlock(block_in, block_in, g)])
        self.norm_out = group_norm(block_in, g)
        self.conv_out = nn.Conv2d(block_in, cfg.z_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.conv_blocks:
            h = level.run(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        for block in self.mid:
            h = block(h)
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        g, ch = cfg.norm_groups, cfg.channels
        levels = len(ch)
        block_in = ch[-1]
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, 1, 1)
        self.mid = nn.ModuleList([ResnetBlock(block_in, block_in, g), AttnBlock(block_in, g),
                                  ResnetBlock(block_in, block_in, g)])
        self.conv_blocks = nn.ModuleList()
        for i in range(levels):  # index 0 is the lowest resolution
            block_out = ch[levels - 1 - i]
            res, attn = [], []
            for _ in range(cfg.decoder_res_blocks):
                res.append(ResnetBlock(block_in, block_out, g))
                block_in = block_out
                if i == 0:
                    attn.append(AttnBlock(block_in, g))
            level = _Level(res, attn)
            if i != levels - 1:
                level.upsample = Upsample(block_in)
            self.conv_blocks.append(level)
        self.norm_out = group_norm(block_in, g)
        self.conv_out = nn.Conv2d(block_in, 3, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        for block in self.mid:
            h = block(h)
        for level in self.conv_blocks:
            h = level.run(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """l2-normalised codebook lookup: argmin of squared distance between unit vectors."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.embedding = nn.Embedding(cfg.codebook_size, cfg.codebook_dim)
        # Training-time usage statistic of LlamaGen; kept only so that the official keys load.
        self.register_buffer("codebook_used", torch.zeros(cfg.codebook_used_size))

    def normalized_codebook(self) -> torch.Tensor:
        return l2_normalize(self.embedding.weight, dim=-1)

    def ids(self, z: torch.Tensor) -> torch.Tensor:
        """z (B,C,g,g) -> ids (B,g*g) int64, raster order; lowest index on ties."""
        flat = l2_normalize(channels_last_rows(z, self.embedding.embedding_dim), dim=-1)  # (B, N, C)
        codebook = self.normalized_codebook()
        distance = (flat.pow(2).sum(-1, keepdim=True) + codebook.pow(2).sum(-1)
                    - 2.0 * torch.matmul(flat, codebook.t()))
        return torch.argmin(distance, dim=-1)

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B,N) -> normalised code vectors (B,N,C)."""
        return F.embedding(ids, self.normalized_codebook())

    def forward(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """z -> (quant (B,C,g,g) with straight-through gradient, ids (B,N))."""
        ids = self.ids(z)
        b, c, h, w = z.shape
        zn = l2_normalize(z, dim=1)
        quant = self.lookup(ids).reshape(b, h, w, c).permute(0, 3, 1, 2)
        return zn + (quant - zn).detach(), ids


class VQModel(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quantize = VectorQuantizer(cfg)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.codebook_dim, 1)
        self.post_quant_conv = nn.Conv2d(cfg.codebook_dim, cfg.z_channels, 1)

    def encode_z(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels (B,3,R,R) in [-1,1] -> pre-quantisation z (B,C,g,g)."""
        return self.quant_conv(self.encoder(pixels))

    def encode(self, pixels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """pixels -> (quant (B,C,g,g), ids (B,N))."""
        return self.quantize(self.encode_z(pixels))

    def decode(self, quant: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(quant))

    def decode_ids(self, ids: torch.Tensor, grid: int) -> torch.Tensor:
        """ids (B,grid*grid) in raster order -> raw decoder output (B,3,R,R)."""
        quant = self.quantize.lookup(ids)
        quant = quant.reshape(quant.shape[0], grid, grid, -1).permute(0, 3, 1, 2)
        return self.decode(quant)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        quant, _ = self.encode(pixels)
        return self.decode(quant)
