"""Spatial transformer of the UNet: diffusers' `Transformer2DModel` (conv projections, as SD-1.5) holding FLAP's
transformer block.

FLAP's block, in order (each with a pre-LayerNorm and a residual):
  attn1     self-attention whose keys/values are the frame's own tokens followed by the ReferenceNet's
            tokens of the same block (the portrait's appearance); without reference it is plain self-attention
  attn2     cross-attention to the frame's pose tokens (head motion)
  attn_expr cross-attention to the frame's expression tokens (a separate path, so pose and expression can be
            trained, frozen and edited independently); absent when `expression_attention` is off, which gives
            exactly diffusers' SD-1.5 names
  ff        GEGLU feed-forward
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import Attention, FeedForward


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int, cross_attention_dim: int, expression_attention: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads=heads, dim_head=dim_head)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, cross_attention_dim, heads=heads, dim_head=dim_head)
        if expression_attention:
            self.norm_expr = nn.LayerNorm(dim)
            self.attn_expr = Attention(dim, cross_attention_dim, heads=heads, dim_head=dim_head)
        else:
            self.norm_expr = self.attn_expr = None
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x: torch.Tensor, pose_tokens: torch.Tensor, expr_tokens: torch.Tensor | None,
                reference: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, L, C]; tokens [B, K, D]; reference [B, Lr, C]. Returns the output and the normed hidden
        states that entered attn1 (what a ReferenceNet hands to the denoiser)."""
        normed = self.norm1(x)
        context = normed if reference is None else torch.cat([normed, reference], dim=1)
        x = self.attn1(normed, context) + x
        x = self.attn2(self.norm2(x), pose_tokens) + x
        if self.attn_expr is not None:
            x = self.attn_expr(self.norm_expr(x), expr_tokens) + x
        x = self.ff(self.norm3(x)) + x
        return x, normed


class Transformer2DModel(nn.Module):
    """GroupNorm (eps 1e-6) → 1x1 conv `proj_in` → one block → 1x1 conv `proj_out`, plus the input."""

    def __init__(self, heads: int, dim_head: int, in_channels: int, cross_attention_dim: int, groups: int,
                 expression_attention: bool):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(groups, in_channels, eps=1e-6)
        self.proj_in = nn.Conv2d(in_channels, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, dim_head, cross_attention_dim, expression_attention)])
        self.proj_out = nn.Conv2d(inner, in_channels, 1)

    def forward(self, x: torch.Tensor, pose_tokens: torch.Tensor, expr_tokens: torch.Tensor | None,
                reference: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        tokens = self.proj_in(self.norm(x))
        tokens = tokens.permute(0, 2, 3, 1).reshape(b, h * w, -1)
        tokens, normed = self.transformer_blocks[0](tokens, pose_tokens, expr_tokens, reference)
        tokens = tokens.reshape(b, h, w, -1).permute(0, 3, 1, 2)
        return self.proj_out(tokens) + x, normed
