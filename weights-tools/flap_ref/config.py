"""Configurations: weights-tools/configs/<name>.json is the one source of truth, read by Python and TypeScript."""

from __future__ import annotations

import json
import os

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
CONFIG_NAMES = ("test", "mini", "sd15")


def load_config(name_or_path: str) -> dict:
    """A config by name (`test`, `mini`, `sd15`) or by path to a JSON file."""
    path = name_or_path if name_or_path.endswith(".json") else os.path.join(CONFIG_DIR, f"{name_or_path}.json")
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    for section in ("video", "audio_encoder", "audio2flame", "coeff_encoder", "unet", "autoencoder", "scheduler"):
        if section not in cfg:
            raise KeyError(f"config {path} lacks the section {section!r}")
    return cfg


def latent_size(cfg: dict) -> tuple[int, int]:
    """Latent height and width: every autoencoder here downsamples by 8."""
    return cfg["video"]["height"] // 8, cfg["video"]["width"] // 8
