"""UNet blocks with diffusers' names (`resnets`, `attentions`, `downsamplers`, `upsamplers`) plus AnimateDiff's
`motion_modules` when the UNet is temporal. Within a block the order is resnet → attention → motion module, as
AnimateDiff's 3-D blocks; in the mid block resnet → (attention → motion module → resnet)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .motion_module import VanillaTemporalModule
from .resnet import Downsample2D, ResnetBlock2D, Upsample2D
from .transformer_2d import Transformer2DModel


@dataclass
class Context:
    """What every block reads besides its input: the conditioning tokens per frame, the clip length, the
    ReferenceNet's features to consume (denoiser) or the dict to fill with them (ReferenceNet), and the geometry
    guide images when the config has one."""
    pose_tokens: torch.Tensor                 # [B·F, Kp, D]
    expr_tokens: torch.Tensor | None          # [B·F, Ke, D]
    frames: int = 1
    reference: dict[str, torch.Tensor] | None = None
    collect: dict[str, torch.Tensor] | None = None
    intermediates: dict[str, torch.Tensor] | None = field(default=None)
    guide: torch.Tensor | None = None         # [B·F, 3, S, S] geometry guide images (config unet.guide)


def run_attention(attn: Transformer2DModel, h: torch.Tensor, ctx: Context) -> torch.Tensor:
    key = attn.ref_key
    ref = None
    if ctx.reference is not None:
        ref = ctx.reference[key]
        # The portrait's features are per video; repeat them for every frame of it.
        ref = ref.repeat_interleave(h.shape[0] // ref.shape[0], dim=0)
    h, normed = attn(h, ctx.pose_tokens, ctx.expr_tokens, ref)
    if ctx.collect is not None:
        ctx.collect[key] = normed
    return h


class _Block(nn.Module):
    def __init__(self, channels: int, num_layers: int, cross: bool, unet: dict, temporal: bool):
        super().__init__()
        heads = unet["num_attention_heads"]
        groups = unet["norm_num_groups"]
        self.attentions = nn.ModuleList(
            [Transformer2DModel(heads, channels // heads, channels, unet["cross_attention_dim"], groups,
                                unet["expression_attention"]) for _ in range(num_layers)]) if cross else None
        self.motion_modules = nn.ModuleList(
            [VanillaTemporalModule(channels, unet["motion_num_attention_heads"], groups, unet["motion_max_frames"])
             for _ in range(num_layers)]) if temporal else None

    def _layer(self, j: int, resnet: nn.Module, h: torch.Tensor, temb: torch.Tensor, ctx: Context) -> torch.Tensor:
        h = resnet(h, temb)
        if self.attentions is not None:
            h = run_attention(self.attentions[j], h, ctx)
        if self.motion_modules is not None:
            h = self.motion_modules[j](h, ctx.frames)
        return h


class DownBlock(_Block):
    """CrossAttnDownBlock2D (cross=True) or DownBlock2D."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, cross: bool, final: bool,
                 unet: dict, temporal: bool):
        n = unet["layers_per_block"]
        super().__init__(out_channels, n, cross, unet, temporal)
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(in_channels if j == 0 else out_channels, out_channels, temb_channels,
                           unet["norm_num_groups"], unet["norm_eps"]) for j in range(n)])
        self.downsamplers = None if final else nn.ModuleList([Downsample2D(out_channels)])

    def forward(self, h, temb, ctx):
        states = []
        for j, resnet in enumerate(self.resnets):
            h = self._layer(j, resnet, h, temb, ctx)
            states.append(h)
        if self.downsamplers is not None:
            h = self.downsamplers[0](h)
            states.append(h)
        return h, states


class UpBlock(_Block):
    """CrossAttnUpBlock2D (cross=True) or UpBlock2D: layers_per_block + 1 resnets, each taking a skip."""

    def __init__(self, in_channels: int, prev_output_channels: int, out_channels: int, temb_channels: int,
                 cross: bool, final: bool, unet: dict, temporal: bool):
        n = unet["layers_per_block"] + 1
        super().__init__(out_channels, n, cross, unet, temporal)
        resnets = []
        for j in range(n):
            skip = in_channels if j == n - 1 else out_channels
            resnet_in = prev_output_channels if j == 0 else out_channels
            resnets.append(ResnetBlock2D(resnet_in + skip, out_channels, temb_channels,
                                         unet["norm_num_groups"], unet["norm_eps"]))
        self.resnets = nn.ModuleList(resnets)
        self.upsamplers = None if final else nn.ModuleList([Upsample2D(out_channels)])

    def forward(self, h, skips, temb, ctx):
        for j, resnet in enumerate(self.resnets):
            h = torch.cat([h, skips.pop()], dim=1)
            h = self._layer(j, resnet, h, temb, ctx)
        if self.upsamplers is not None:
            h = self.upsamplers[0](h)
        return h


class MidBlock(nn.Module):
    """UNetMidBlock2DCrossAttn: resnets.0, then attentions.0 → motion_modules.0 → resnets.1."""

    def __init__(self, channels: int, temb_channels: int, unet: dict, temporal: bool):
        super().__init__()
        heads = unet["num_attention_heads"]
        groups = unet["norm_num_groups"]
        self.attentions = nn.ModuleList([Transformer2DModel(heads, channels // heads, channels,
                                                            unet["cross_attention_dim"], groups,
                                                            unet["expression_attention"])])
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, temb_channels, groups, unet["norm_eps"])
                                      for _ in range(2)])
        self.motion_modules = nn.ModuleList([VanillaTemporalModule(channels, unet["motion_num_attention_heads"],
                                                                   groups, unet["motion_max_frames"])]) \
            if temporal else None

    def forward(self, h, temb, ctx):
        h = self.resnets[0](h, temb)
        h = run_attention(self.attentions[0], h, ctx)
        if self.motion_modules is not None:
            h = self.motion_modules[0](h, ctx.frames)
        return self.resnets[1](h, temb)
