"""Audio-to-FLAME head ("3D parameter head"): audio features → 120 FLAME coefficients per video frame.

  x = interpolate(features [B, T, D] over T, to num_frames, linear, align_corners=False)
  x = input_proj(x) + ref_proj(ref_coeffs)[:, None] (when condition_on_reference; zeros for no reference)
      + P[:num_frames]        P[t, i] = sin(t / 10000^(2i/H)) for i < H/2, cos(t / 10000^(2(i-H/2)/H)) after
  for each layer:  x = x + attn(norm1(x));  x = x + ff.2(GELU(ff.0(norm2(x))))        (pre-norm, exact GELU)
  coeffs = output_proj(norm(x))      → [B, num_frames, 120] in FLAP order
           (global_rot 3, eyes 12, jaw 3, eyelids 2, expression 100)
The attention is bidirectional over the whole utterance (it runs once per video, before any clip).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) * 2 / dim)
    args = torch.arange(length, dtype=torch.float32)[:, None] * freq[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        split = lambda y: y.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        w = (torch.matmul(q, k.transpose(-1, -2)) * self.head_dim ** -0.5).softmax(-1)
        return self.out_proj(torch.matmul(w, v).transpose(1, 2).reshape(b, t, c))


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, eps=eps)
        self.attn = SelfAttention(hidden, heads)
        self.norm2 = nn.LayerNorm(hidden, eps=eps)
        self.ff = nn.Sequential(nn.Linear(hidden, intermediate), nn.GELU(), nn.Linear(intermediate, hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ff(self.norm2(x))


class Audio2Flame(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.config = cfg
        h = cfg["hidden_size"]
        self.input_proj = nn.Linear(cfg["input_dim"], h)
        self.ref_proj = nn.Linear(cfg["num_coeffs"], h) if cfg["condition_on_reference"] else None
        self.layers = nn.ModuleList([Layer(h, cfg["num_heads"], cfg["intermediate_size"], cfg["layer_norm_eps"])
                                     for _ in range(cfg["num_layers"])])
        self.norm = nn.LayerNorm(h, eps=cfg["layer_norm_eps"])
        self.output_proj = nn.Linear(h, cfg["num_coeffs"])

    def forward(self, features: torch.Tensor, num_frames: int, ref_coeffs: torch.Tensor | None = None,
                return_intermediates: bool = False):
        rec = {} if return_intermediates else None
        x = F.interpolate(features.transpose(1, 2), size=num_frames, mode="linear", align_corners=False)
        x = self.input_proj(x.transpose(1, 2))
        if self.ref_proj is not None:
            ref = ref_coeffs if ref_coeffs is not None else features.new_zeros(features.shape[0],
                                                                                self.config["num_coeffs"])
            x = x + self.ref_proj(ref)[:, None]
        x = x + sinusoid_table(num_frames, x.shape[-1])[None]
        if rec is not None:
            rec["embedded"] = x
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if rec is not None:
                rec[f"layers.{i}"] = x
        out = self.output_proj(self.norm(x))
        return (out, rec) if return_intermediates else out
