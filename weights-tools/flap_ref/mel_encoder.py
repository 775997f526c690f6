"""A log-mel audio front end (config `audio_encoder.type: "mel"`), for a small model that must learn lip sync
in minutes on a CPU: the wav2vec2 layout (audio_encoder.py) stays for real checkpoints (`sd15`).

  waveform [B, S] at 16 kHz → per-utterance normalisation (zero mean, unit variance) → frames of `win_length`
  samples every `hop_length` (no padding; T = (S − win) // hop + 1), periodic Hann window → power spectrum of an
  `n_fft`-point DFT (the frame zero-padded), written as one matmul with [cos | sin] and a square → `n_mels`
  triangular HTK-mel filters from `f_min` to 8 kHz → log(· + 1e-6) → norm (LayerNorm over the mel bins)
  → convs.i (Conv1d, `conv_kernel` wide, same padding) each followed by exact GELU → [B, T, hidden_size].

Only `norm` and `convs` hold weights; the window, DFT basis and filter bank are computed (non-persistent
buffers), and src/models/mel_encoder.ts computes the same ones.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def mel_filters(n_fft: int, n_mels: int, sample_rate: int, f_min: float) -> torch.Tensor:
    """[n_fft // 2 + 1, n_mels] triangular filters equally spaced on the HTK mel scale, peak 1."""
    mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)  # noqa: E731
    edges_mel = torch.linspace(mel(f_min), mel(sample_rate / 2), n_mels + 2, dtype=torch.float64)
    edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lo[None]) / (mid - lo)[None]
    down = (hi[None] - freqs[:, None]) / (hi - mid)[None]
    return torch.clamp(torch.minimum(up, down), min=0).float()


def dft_basis(win_length: int, n_fft: int) -> torch.Tensor:
    """[win_length, 2 · (n_fft // 2 + 1)]: the periodic Hann window times [cos | sin] of the n_fft-point DFT."""
    n = torch.arange(win_length, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / win_length)
    angle = 2 * math.pi * n[:, None] * k[None] / n_fft
    return (window[:, None] * torch.cat([torch.cos(angle), torch.sin(angle)], 1)).float()


def num_frames(cfg: dict, samples: int) -> int:
    return max(0, (samples - cfg["win_length"]) // cfg["hop_length"] + 1)


class MelEncoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.config = cfg
        fb = mel_filters(cfg["n_fft"], cfg["n_mels"], cfg.get("sample_rate", 16000), cfg.get("f_min", 20.0))
        self.register_buffer("basis", dft_basis(cfg["win_length"], cfg["n_fft"]), persistent=False)
        # Power = re² + im², so the squared DFT outputs go through the filter bank stacked twice.
        self.register_buffer("filters", torch.cat([fb, fb]), persistent=False)
        self.norm = nn.LayerNorm(cfg["n_mels"], eps=1e-5)
        k, h = cfg["conv_kernel"], cfg["hidden_size"]
        self.convs = nn.ModuleList([nn.Conv1d(cfg["n_mels"] if i == 0 else h, h, k, padding=k // 2)
                                    for i in range(cfg["num_conv_layers"])])

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """[B, S] → [B, T, n_mels]."""
        mean = waveform.mean(-1, keepdim=True)
        var = waveform.var(-1, unbiased=False, keepdim=True)
        x = (waveform - mean) / torch.sqrt(var + 1e-7)
        frames = x.unfold(-1, self.config["win_length"], self.config["hop_length"])   # [B, T, win]
        return torch.log((frames @ self.basis).pow(2) @ self.filters + 1e-6)

    def forward(self, waveform: torch.Tensor, return_intermediates: bool = False):
        """waveform [B, S] → features [B, T, hidden_size] (T frames at sample_rate / hop_length per second)."""
        mel = self.log_mel(waveform)
        x = self.norm(mel).transpose(1, 2)
        for conv in self.convs:
            x = F.gelu(conv(x))
        out = x.transpose(1, 2)
        return (out, {"log_mel": mel}) if return_intermediates else out


def build_audio_encoder(cfg: dict) -> nn.Module:
    """The audio front end a config names: wav2vec2 (default) or the log-mel encoder."""
    if cfg.get("type", "wav2vec2") == "mel":
        return MelEncoder(cfg)
    from .audio_encoder import AudioEncoder
    return AudioEncoder(cfg)
