"""Multi-head attention with diffusers' names (`to_q`, `to_k`, `to_v`, `to_out.0`)."""

from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """softmax(Q Kᵀ / sqrt(dim_head)) V over `heads` heads; keys and values come from `context` when given."""

    def __init__(self, query_dim: int, cross_attention_dim: int | None = None, heads: int = 8, dim_head: int = 64,
                 bias: bool = False, out_bias: bool = True):
        super().__init__()
        inner = heads * dim_head
        context_dim = cross_attention_dim if cross_attention_dim is not None else query_dim
        self.heads = heads
        self.dim_head = dim_head
        self.to_q = nn.Linear(query_dim, inner, bias=bias)
        self.to_k = nn.Linear(context_dim, inner, bias=bias)
        self.to_v = nn.Linear(context_dim, inner, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim, bias=out_bias), nn.Dropout(0.0)])

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        b, lq, _ = x.shape
        lk = context.shape[1]
        q = self.to_q(x).view(b, lq, self.heads, self.dim_head).transpose(1, 2)
        k = self.to_k(context).view(b, lk, self.heads, self.dim_head).transpose(1, 2)
        v = self.to_v(context).view(b, lk, self.heads, self.dim_head).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.dim_head ** -0.5
        out = torch.matmul(scores.softmax(dim=-1), v)
        out = out.transpose(1, 2).reshape(b, lq, self.heads * self.dim_head)
        return self.to_out[1](self.to_out[0](out))


class GEGLU(nn.Module):
    """`proj` to 2·inner, then value · GELU(gate) with the value half first (diffusers' order)."""

    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * nn.functional.gelu(gate)


class FeedForward(nn.Module):
    """diffusers' FeedForward with GEGLU: `net.0.proj`, `net.2`; inner width 4·dim."""

    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        inner = dim * mult
        self.net = nn.ModuleList([GEGLU(dim, inner), nn.Dropout(0.0), nn.Linear(inner, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x
