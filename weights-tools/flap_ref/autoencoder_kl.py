"""SD's `AutoencoderKL` with diffusers' names: encoder/decoder of GroupNorm ResNet blocks (eps 1e-6, no time
embedding), a mid block with one single-head self-attention (`group_norm`, `to_q/k/v` with biases,
`to_out.0`, residual), stride-2 downsampling convs that pad (0, 1, 0, 1) first, nearest ×2 + conv upsampling,
`quant_conv`/`post_quant_conv`. `encode(x)` returns the posterior mean · scaling_factor (deterministic),
`decode(z)` divides by it first; images in [-1, 1]."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .attention import Attention
from .resnet import ResnetBlock2D, Upsample2D

EPS = 1e-6


class VaeDownsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class SpatialSelfAttention(Attention):
    """One head over all pixels, with its own GroupNorm and the input added back."""

    def __init__(self, channels: int, groups: int):
        super().__init__(channels, heads=1, dim_head=channels, bias=True)
        self.group_norm = nn.GroupNorm(groups, channels, eps=EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.group_norm(x).flatten(2).transpose(1, 2)
        out = super().forward(tokens).transpose(1, 2).reshape(b, c, h, w)
        return out + x


class MidBlock(nn.Module):
    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.attentions = nn.ModuleList([SpatialSelfAttention(channels, groups)])
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, None, groups, EPS) for _ in range(2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class DownEncoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, layers: int, groups: int, final: bool):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if j == 0 else cout, cout, None, groups, EPS)
                                      for j in range(layers)])
        self.downsamplers = None if final else nn.ModuleList([VaeDownsample(cout)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for r in self.resnets:
            x = r(x)
        return x if self.downsamplers is None else self.downsamplers[0](x)


class UpDecoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, layers: int, groups: int, final: bool):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if j == 0 else cout, cout, None, groups, EPS)
                                      for j in range(layers)])
        self.upsamplers = None if final else nn.ModuleList([Upsample2D(cout)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for r in self.resnets:
            x = r(x)
        return x if self.upsamplers is None else self.upsamplers[0](x)


class Encoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        widths, groups, n = cfg["block_out_channels"], cfg["norm_num_groups"], cfg["layers_per_block"]
        self.conv_in = nn.Conv2d(cfg["in_channels"], widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList([
            DownEncoderBlock(widths[max(i - 1, 0)], w, n, groups, i == len(widths) - 1) for i, w in enumerate(widths)])
        self.mid_block = MidBlock(widths[-1], groups)
        self.conv_norm_out = nn.GroupNorm(groups, widths[-1], eps=EPS)
        self.conv_out = nn.Conv2d(widths[-1], 2 * cfg["latent_channels"], 3, padding=1)

    def forward(self, x: torch.Tensor, rec: dict | None) -> torch.Tensor:
        x = self.conv_in(x)
        for i, block in enumerate(self.down_blocks):
            x = block(x)
            if rec is not None:
                rec[f"encoder.down_blocks.{i}"] = x
        x = self.mid_block(x)
        if rec is not None:
            rec["encoder.mid_block"] = x
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        widths, groups, n = cfg["block_out_channels"], cfg["norm_num_groups"], cfg["layers_per_block"] + 1
        rev = list(reversed(widths))
        self.conv_in = nn.Conv2d(cfg["latent_channels"], rev[0], 3, padding=1)
        self.mid_block = MidBlock(rev[0], groups)
        self.up_blocks = nn.ModuleList([
            UpDecoderBlock(rev[max(i - 1, 0)], w, n, groups, i == len(rev) - 1) for i, w in enumerate(rev)])
        self.conv_norm_out = nn.GroupNorm(groups, widths[0], eps=EPS)
        self.conv_out = nn.Conv2d(widths[0], cfg["out_channels"], 3, padding=1)

    def forward(self, z: torch.Tensor, rec: dict | None) -> torch.Tensor:
        x = self.mid_block(self.conv_in(z))
        if rec is not None:
            rec["decoder.mid_block"] = x
        for i, block in enumerate(self.up_blocks):
            x = block(x)
            if rec is not None:
                rec[f"decoder.up_blocks.{i}"] = x
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        latent = cfg["latent_channels"]
        self.scaling_factor = cfg["scaling_factor"]
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quant_conv = nn.Conv2d(2 * latent, 2 * latent, 1)
        self.post_quant_conv = nn.Conv2d(latent, latent, 1)

    def encode(self, x: torch.Tensor, return_intermediates: bool = False):
        rec = {} if return_intermediates else None
        moments = self.quant_conv(self.encoder(x, rec))
        z = moments[:, : moments.shape[1] // 2] * self.scaling_factor
        return (z, rec) if return_intermediates else z

    def decode(self, z: torch.Tensor, return_intermediates: bool = False):
        rec = {} if return_intermediates else None
        x = self.decoder(self.post_quant_conv(z / self.scaling_factor), rec)
        return (x, rec) if return_intermediates else x
