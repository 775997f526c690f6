"""A small conv-only autoencoder in the spirit of TAESD: 8× down, 4 latent channels, only 3x3 convolutions,
ReLU, additions and nearest ×2 upsampling, so it maps straight onto the runtime's kernels.

Layout (`c` = channels, `n` = blocks_per_level; `Block` = conv → ReLU → conv → ReLU → conv, plus the input,
then ReLU; its convs are `conv.0`, `conv.2`, `conv.4`):
  encoder.conv_in (3 → c)
  encoder.levels.i (i = 0..2): `down` (3x3, stride 2, pad 1) then `blocks.j`
  encoder.conv_out (c → 4)
  decoder.conv_in (4 → c), ReLU
  decoder.levels.i (i = 0..2): `blocks.j`, nearest ×2, `up` (3x3)
  decoder.blocks.j, decoder.conv_out (c → 3)
`encode(x)` = encoder(x) · scaling_factor; `decode(z)` = decoder(z / scaling_factor). Images in [-1, 1].
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Sequential(conv(c, c), nn.ReLU(), conv(c, c), nn.ReLU(), conv(c, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x) + x)


class EncoderLevel(nn.Module):
    def __init__(self, c: int, n: int):
        super().__init__()
        self.down = conv(c, c, stride=2)
        self.blocks = nn.ModuleList([Block(c) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        for block in self.blocks:
            x = block(x)
        return x


class DecoderLevel(nn.Module):
    def __init__(self, c: int, n: int):
        super().__init__()
        self.blocks = nn.ModuleList([Block(c) for _ in range(n)])
        self.up = conv(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.up(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TinyEncoder(nn.Module):
    def __init__(self, cin: int, c: int, latent: int, n: int):
        super().__init__()
        self.conv_in = conv(cin, c)
        self.levels = nn.ModuleList([EncoderLevel(c, n) for _ in range(3)])
        self.conv_out = conv(c, latent)

    def forward(self, x: torch.Tensor, rec: dict | None = None) -> torch.Tensor:
        x = self.conv_in(x)
        for i, level in enumerate(self.levels):
            x = level(x)
            if rec is not None:
                rec[f"encoder.levels.{i}"] = x
        return self.conv_out(x)


class TinyDecoder(nn.Module):
    def __init__(self, latent: int, c: int, cout: int, n: int):
        super().__init__()
        self.conv_in = conv(latent, c)
        self.levels = nn.ModuleList([DecoderLevel(c, n) for _ in range(3)])
        self.blocks = nn.ModuleList([Block(c) for _ in range(n)])
        self.conv_out = conv(c, cout)

    def forward(self, z: torch.Tensor, rec: dict | None = None) -> torch.Tensor:
        x = F.relu(self.conv_in(z))
        for i, level in enumerate(self.levels):
            x = level(x)
            if rec is not None:
                rec[f"decoder.levels.{i}"] = x
        for block in self.blocks:
            x = block(x)
        return self.conv_out(x)


class TinyAutoencoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        c, n = cfg["channels"], cfg["blocks_per_level"]
        self.scaling_factor = cfg["scaling_factor"]
        self.encoder = TinyEncoder(cfg["in_channels"], c, cfg["latent_channels"], n)
        self.decoder = TinyDecoder(cfg["latent_channels"], c, cfg["out_channels"], n)

    def encode(self, x: torch.Tensor, return_intermediates: bool = False):
        rec = {} if return_intermediates else None
        z = self.encoder(x, rec) * self.scaling_factor
        return (z, rec) if return_intermediates else z

    def decode(self, z: torch.Tensor, return_intermediates: bool = False):
        rec = {} if return_intermediates else None
        x = self.decoder(z / self.scaling_factor, rec)
        return (x, rec) if return_intermediates else x
