"""Temporal (motion) module with AnimateDiff's names: attention across the frames of a clip at every pixel.

`motion_modules.j.temporal_transformer.{norm, proj_in, transformer_blocks.0.{attention_blocks.0/1, norms.0/1,
ff, ff_norm}, proj_out}`. Each attention block adds the sinusoidal frame-position table (AnimateDiff's
interleaved sin/cos, `pos_encoder.pe`, computed here rather than stored) to its normed input, then attends
over the frame axis. `proj_out` starts at zero, so a fresh module is the identity.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import Attention, FeedForward
from .embeddings import interleaved_positions


class PositionalEncoding(nn.Module):
    def __init__(self, dim: int, max_len: int):
        super().__init__()
        self.register_buffer("pe", interleaved_positions(max_len, dim)[None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.pe.shape[1]:
            raise ValueError(f"{x.shape[1]} frames exceed the temporal position table ({self.pe.shape[1]})")
        return x + self.pe[:, : x.shape[1]]


class TemporalAttention(Attention):
    """AnimateDiff's VersatileAttention in its temporal self-attention form."""

    def __init__(self, dim: int, heads: int, dim_head: int, max_len: int):
        super().__init__(dim, heads=heads, dim_head=dim_head)
        self.pos_encoder = PositionalEncoding(dim, max_len)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        bf, pixels, c = x.shape
        b = bf // frames
        seq = x.view(b, frames, pixels, c).permute(0, 2, 1, 3).reshape(b * pixels, frames, c)
        seq = super().forward(self.pos_encoder(seq))
        return seq.view(b, pixels, frames, c).permute(0, 2, 1, 3).reshape(bf, pixels, c)


class TemporalTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, max_len: int):
        super().__init__()
        self.attention_blocks = nn.ModuleList([TemporalAttention(dim, heads, dim // heads, max_len) for _ in range(2)])
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(2)])
        self.ff = FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        for attention, norm in zip(self.attention_blocks, self.norms):
            x = attention(norm(x), frames) + x
        return self.ff(self.ff_norm(x)) + x


class TemporalTransformer3DModel(nn.Module):
    def __init__(self, channels: int, heads: int, groups: int, max_len: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(channels, heads, max_len)])
        self.proj_out = nn.Linear(channels, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The module's own part of its initialisation (its layers keep theirs): `proj_out` at zero, so a fresh
        module is the identity. The converter calls it on motion modules it initialises (convert.py)."""
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """x [(B F), C, H, W], frames of one clip consecutive."""
        bf, c, h, w = x.shape
        tokens = self.norm(x).permute(0, 2, 3, 1).reshape(bf, h * w, c)
        tokens = self.transformer_blocks[0](self.proj_in(tokens), frames)
        tokens = self.proj_out(tokens).reshape(bf, h, w, c).permute(0, 3, 1, 2)
        return tokens + x


class VanillaTemporalModule(nn.Module):
    def __init__(self, channels: int, heads: int, groups: int, max_len: int):
        super().__init__()
        self.temporal_transformer = TemporalTransformer3DModel(channels, heads, groups, max_len)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        return self.temporal_transformer(x, frames)
