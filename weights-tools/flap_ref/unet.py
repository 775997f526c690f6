"""FLAP's UNet: diffusers' `UNet2DConditionModel` layout and names, conditioned on per-frame pose and expression
tokens instead of text, with AnimateDiff motion modules when `temporal` (the denoiser) and without them (the
ReferenceNet, reference_net.py)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .embeddings import TimestepEmbedding, timestep_embedding
from .guide import GuideEncoder
from .transformer_2d import Transformer2DModel
from .unet_blocks import Context, DownBlock, MidBlock, UpBlock


class UNet(nn.Module):
    def __init__(self, unet: dict, temporal: bool):
        super().__init__()
        self.config = unet
        self.temporal = temporal
        widths = unet["block_out_channels"]
        temb = widths[0] * 4
        self.conv_in = nn.Conv2d(unet["in_channels"], widths[0], 3, padding=1)
        self.guide_encoder = GuideEncoder(unet["guide"], widths[0]) if "guide" in unet else None
        self.time_embedding = TimestepEmbedding(widths[0], temb)
        self.down_blocks = nn.ModuleList()
        out = widths[0]
        for i, kind in enumerate(unet["down_block_types"]):
            inp, out = out, widths[i]
            self.down_blocks.append(DownBlock(inp, out, temb, kind.startswith("CrossAttn"), i == len(widths) - 1,
                                              unet, temporal))
        self.mid_block = MidBlock(widths[-1], temb, unet, temporal)
        self.up_blocks = nn.ModuleList()
        rev = list(reversed(widths))
        prev = rev[0]
        for i, kind in enumerate(unet["up_block_types"]):
            out, inp = rev[i], rev[min(i + 1, len(widths) - 1)]
            self.up_blocks.append(UpBlock(inp, prev, out, temb, kind.startswith("CrossAttn"), i == len(widths) - 1,
                                          unet, temporal))
            prev = out
        self.conv_norm_out = nn.GroupNorm(unet["norm_num_groups"], widths[0], eps=unet["norm_eps"])
        self.conv_out = nn.Conv2d(widths[0], unet["out_channels"], 3, padding=1)
        # Each spatial transformer knows its own name: the key of its ReferenceNet features.
        for name, module in self.named_modules():
            if isinstance(module, Transformer2DModel):
                module.ref_key = name

    def attention_keys(self) -> list[str]:
        """Names of the spatial transformers in execution order (down, mid, up): the ReferenceNet feature keys."""
        return [n for n, m in self.named_modules() if isinstance(m, Transformer2DModel)]

    def time_embed(self, timesteps: torch.Tensor) -> torch.Tensor:
        t = timestep_embedding(timesteps, self.config["block_out_channels"][0], self.config["flip_sin_to_cos"],
                               self.config["freq_shift"])
        return self.time_embedding(t)

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, ctx: Context) -> torch.Tensor:
        """sample [N, C, H, W] (N = videos · frames, frames consecutive); timesteps [N]; `ctx.guide` [N, 3, S, S]
        when the config has a guide (zeros where the condition is dropped). Records each block's
        output in `ctx.intermediates` when that is a dict."""
        rec = ctx.intermediates
        temb = self.time_embed(timesteps)
        h = self.conv_in(sample)
        if self.guide_encoder is not None:
            if ctx.guide is None:
                raise ValueError("this UNet has a geometry guide (config unet.guide); Context.guide is missing")
            h = h + self.guide_encoder(ctx.guide)
        skips = [h]
        for i, block in enumerate(self.down_blocks):
            h, states = block(h, temb, ctx)
            skips.extend(states)
            if rec is not None:
                rec[f"down_blocks.{i}"] = h
        h = self.mid_block(h, temb, ctx)
        if rec is not None:
            rec["mid_block"] = h
        for i, block in enumerate(self.up_blocks):
            n = len(block.resnets)
            h = block(h, skips[-n:], temb, ctx)
            del skips[-n:]
            if rec is not None:
                rec[f"up_blocks.{i}"] = h
        return self.conv_out(F.silu(self.conv_norm_out(h)))
