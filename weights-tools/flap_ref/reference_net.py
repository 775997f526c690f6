"""ReferenceNet: the 2-D UNet (no motion modules) run once per video on the portrait's latent at t = 0.

It returns, for every spatial transformer, the normed hidden states that entered its attn1 — [B, H·W, C],
keyed by the transformer's module name (`down_blocks.0.attentions.0`, …, `mid_block.attentions.0`,
`up_blocks.i.attentions.j`). The denoiser's transformer of the same name appends them to its own keys and
values (transformer_2d.py). Its pose/expression cross-attentions see the portrait's own coefficient tokens.
"""

from __future__ import annotations

import torch
from .unet import UNet
from .unet_blocks import Context


class ReferenceNet(UNet):
    """A UNet itself (so its names are diffusers' own, as ReferenceNet checkpoints have them)."""

    def __init__(self, unet: dict):
        super().__init__(unet, temporal=False)

    def forward(self, latent: torch.Tensor, pose_tokens: torch.Tensor, expr_tokens: torch.Tensor | None,
                intermediates: dict | None = None, guide: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        features: dict[str, torch.Tensor] = {}
        ctx = Context(pose_tokens, expr_tokens, frames=1, collect=features, intermediates=intermediates, guide=guide)
        timesteps = torch.zeros(latent.shape[0], dtype=torch.long)
        super().forward(latent, timesteps, ctx)
        return features
