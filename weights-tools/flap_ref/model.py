"""The whole FLAP model as one module, so one state dict (one safetensors file) holds every part under its
prefix: `audio_encoder.`, `audio2flame.`, `coeff_encoder.`, `reference_net.`, `unet.`, `autoencoder.` and, when
the config has them, `preview_autoencoder.` and `estimator.` (the portrait's own coefficients, estimator.py)."""

from __future__ import annotations

from torch import nn

from .audio2flame import Audio2Flame
from .autoencoder import build_autoencoder
from .coeff_encoder import CoeffEncoder
from .estimator import Estimator
from .mel_encoder import build_audio_encoder
from .reference_net import ReferenceNet
from .unet import UNet


class FlapModel(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.config = cfg
        self.audio_encoder = build_audio_encoder(cfg["audio_encoder"])
        self.audio2flame = Audio2Flame(cfg["audio2flame"])
        self.coeff_encoder = CoeffEncoder(cfg["coeff_encoder"])
        self.reference_net = ReferenceNet(cfg["unet"])
        self.unet = UNet(cfg["unet"], temporal=True)
        self.autoencoder = build_autoencoder(cfg["autoencoder"])
        if "preview_autoencoder" in cfg:
            self.preview_autoencoder = build_autoencoder(cfg["preview_autoencoder"])
        if "estimator" in cfg:
            self.estimator = Estimator(cfg["estimator"]["width"])
