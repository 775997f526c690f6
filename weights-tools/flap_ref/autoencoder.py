"""The autoencoder a config asks for: SD's `AutoencoderKL` (type "kl") or the tiny conv one (type "tiny")."""

from __future__ import annotations

from torch import nn


def build_autoencoder(section: dict) -> nn.Module:
    if section["type"] == "kl":
        from .autoencoder_kl import AutoencoderKL
        return AutoencoderKL(section)
    if section["type"] == "tiny":
        from .autoencoder_tiny import TinyAutoencoder
        return TinyAutoencoder(section)
    raise ValueError(f"unknown autoencoder type {section['type']!r} (expected 'kl' or 'tiny')")
