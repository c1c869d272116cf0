"""Hyper-parameters of the TokLIP networks.

Every value that the tensor shapes of a checkpoint determine is read from them by convert.py;
the presets below only fill defaults (and catch a checkpoint that contradicts its preset).
Two values cannot be read from shapes: the head counts of the ViT and of the text tower.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass(frozen=True)
class VQConfig:
    """LlamaGen VQ-16 tokenizer (encoder, l2-normalised quantiser, decoder)."""

    base_channels: int = 128
    channel_multipliers: Tuple[int, ...] = (1, 1, 2, 2, 4)
    encoder_res_blocks: int = 2
    decoder_res_blocks: int = 3
    z_channels: int = 256
    codebook_size: int = 16384
    codebook_dim: int = 8
    # GroupNorm groups: 32 in LlamaGen (not stored in checkpoints); smaller only for tiny test models.
    norm_groups: int = 32
    # Length of the training-only usage buffer `quantize.codebook_used` (fixed in LlamaGen).
    codebook_used_size: int = 65536

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_multipliers", tuple(self.channel_multipliers))
        for c in self.channels:
            if c % self.norm_groups:
                raise ValueError(f"VQ channel count {c} is not divisible by norm_groups {self.norm_groups}")
        if self.z_channels < 1 or self.codebook_size < 1 or self.codebook_dim < 1:
            raise ValueError("VQ z_channels, codebook_size and codebook_dim must be positive")

    @property
    def channels(self) -> Tuple[int, ...]:
        return tuple(self.base_channels * m for m in self.channel_multipliers)

    @property
    def downsample_factor(self) -> int:
        """Total spatial reduction: one stride-2 stage between consecutive levels."""
        return 2 ** (len(self.channel_multipliers) - 1)


@dataclass(frozen=True)
class VisionConfig:
    """Semantic ViT (`visual.trunk`): token MLP, causal pre-LN blocks, final LN, MAP pool."""

    width: int = 1152
    depth: int = 27
    heads: int = 16
    mlp_hidden: int = 4304
    token_mlp_hidden: int = 4608
    pool_mlp_hidden: int = 4304
    num_tokens: int = 256

    def __post_init__(self) -> None:
        _check_heads("vision", self.width, self.heads)


@dataclass(frozen=True)
class TextConfig:
    """open_clip TextTransformer of SigLIP2: bidirectional, last-position pooling."""

    width: int = 1152
    depth: int = 27
    heads: int = 16
    mlp_hidden: int = 4304
    vocab_size: int = 256000
    context_length: int = 64
    embed_dim: int = 1152

    def __post_init__(self) -> None:
        _check_heads("text", self.width, self.heads)


@dataclass(frozen=True)
class TokLIPConfig:
    image_size: int = 256
    vq: VQConfig = field(default_factory=VQConfig)
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: Optional[TextConfig] = field(default_factory=TextConfig)
    # The built official model has logit_bias (init -10); the released files do not.
    logit_bias: bool = True

    def __post_init__(self) -> None:
        f = self.vq.downsample_factor
        if self.image_size % f:
            raise ValueError(f"image_size {self.image_size} is not a multiple of the VQ downsample factor {f}")
        if self.grid ** 2 != self.vision.num_tokens:
            raise ValueError(
                f"image_size {self.image_size} gives a {self.grid}x{self.grid} grid, "
                f"but the ViT has {self.vision.num_tokens} position embeddings")
        if self.text is not None and self.text.embed_dim != self.vision.width:
            raise ValueError(f"text embedding dim {self.text.embed_dim} differs from the image "
                             f"embedding dim {self.vision.width}")

    @property
    def patch_size(self) -> int:
        return self.vq.downsample_factor

    @property
    def grid(self) -> int:
        return self.image_size // self.vq.downsample_factor

    @property
    def num_tokens(self) -> int:
        return self.grid ** 2

    @property
    def embedding_dim(self) -> int:
        return self.vision.width

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "TokLIPConfig":
        vq = VQConfig(**d["vq"])
        vision = VisionConfig(**d["vision"])
        text = TextConfig(**d["text"]) if d.get("text") else None
        return TokLIPConfig(image_size=d["image_size"], vq=vq, vision=vision, text=text,
                            logit_bias=d.get("logit_bias", True))


def _check_heads(tower: str, width: int, heads: int) -> None:
    if heads < 1 or width % heads:
        raise ValueError(f"{tower} width {width} is not divisible by {heads} heads")


# Released models (spec sections 2-4): SigLIP2 SO400M shape, LlamaGen VQ-16.
PRESETS = {
    "toklip-s-256": TokLIPConfig(image_size=256, vision=VisionConfig(num_tokens=256)),
    "toklip-l-384": TokLIPConfig(image_size=384, vision=VisionConfig(num_tokens=576)),
}


def small_config(image_size: int = 128, *, text: bool = True, vocab_size: int = 100,
                 context_length: int = 16) -> TokLIPConfig:
    """A reduced model with the official module tree, for training experiments and tests."""
    vq = VQConfig(base_channels=32, channel_multipliers=(1, 1, 2, 2, 4), z_channels=64,
                  codebook_size=512, codebook_dim=8)
    grid = image_size // vq.downsample_factor
    vision = VisionConfig(width=192, depth=4, heads=3, mlp_hidden=768, token_mlp_hidden=768,
                          pool_mlp_hidden=768, num_tokens=grid * grid)
    text_cfg = TextConfig(width=192, depth=4, heads=3, mlp_hidden=768, vocab_size=vocab_size,
                          context_length=context_length, embed_dim=192) if text else None
    return TokLIPConfig(image_size=image_size, vq=vq, vision=vision, text=text_cfg)


def tiny_config(image_size: int = 64, *, text: bool = True, vocab_size: int = 64,
                context_length: int = 16) -> TokLIPConfig:
    """The smallest useful model (test fixtures): 16x downsampling, 4 GroupNorm groups."""
    vq = VQConfig(base_channels=8, channel_multipliers=(1, 1, 2, 2, 2), encoder_res_blocks=1,
                  decoder_res_blocks=2, z_channels=16, codebook_size=64, codebook_dim=8,
                  norm_groups=4)
    grid = image_size // vq.downsample_factor
    vision = VisionConfig(width=32, depth=2, heads=2, mlp_hidden=64, token_mlp_hidden=64,
                          pool_mlp_hidden=64, num_tokens=grid * grid)
    text_cfg = TextConfig(width=32, depth=2, heads=2, mlp_hidden=64, vocab_size=vocab_size,
                          context_length=context_length, embed_dim=32) if text else None
    return TokLIPConfig(image_size=image_size, vq=vq, vision=vision, text=text_cfg)


def reduced_preset(name: str) -> TokLIPConfig:
    """The preset's graphs at a fraction of the cost, for tests of what the graphs are made of:
    the same image size, token grid, codebook, embedding width, text length and head counts, so
    the same ops and the same graph inputs and outputs, but one block per tower and narrow inner
    layers (a few seconds to export instead of half an hour)."""
    full = PRESETS[name]
    vq = dataclasses.replace(full.vq, base_channels=32, encoder_res_blocks=1, decoder_res_blocks=1, z_channels=32)
    hidden = 64
    vision = dataclasses.replace(full.vision, depth=1, mlp_hidden=hidden, token_mlp_hidden=hidden, pool_mlp_hidden=hidden)
    text = dataclasses.replace(full.text, depth=1, mlp_hidden=hidden, vocab_size=1024)
    return TokLIPConfig(image_size=full.image_size, vq=vq, vision=vision, text=text)
