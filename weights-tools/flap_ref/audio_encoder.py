"""Audio encoder: wav2vec2 as Hugging Face's `Wav2Vec2Model` with feat_extract_norm "group" and post-norm layers
(wav2vec2-base), with its parameter names, so a real checkpoint loads unchanged.

  waveform [B, S] (16 kHz) → optional per-utterance normalisation (zero mean, unit variance, as HF's feature
  extractor does) → conv_layers (layer 0: conv → GroupNorm(C groups) → GELU; others: conv → GELU)
  → [B, T, C] → feature_projection (LayerNorm → Linear) → + pos_conv_embed (grouped conv, weight norm over
  dim 2, `k // 2` padding and the last frame dropped when k is even, GELU) → encoder.layer_norm → layers
  (x = LayerNorm(x + attention(x)); x = LayerNorm(x + FF(x)), GELU feed-forward) → last_hidden_state.
GELU is the exact (erf) one. `masked_spec_embed` exists for the names only (masking is a training device).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def num_frames(cfg: dict, samples: int) -> int:
    """Feature frames the conv stack makes of `samples` samples."""
    n = samples
    for k, s in zip(cfg["conv_kernel"], cfg["conv_stride"]):
        n = (n - k) // s + 1
    return n


class ConvLayer(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, bias: bool, group_norm: bool):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, stride=stride, bias=bias)
        self.layer_norm = nn.GroupNorm(cout, cout, affine=True) if group_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return F.gelu(x)


class FeatureExtractor(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        dims = [1] + list(cfg["conv_dim"])
        self.conv_layers = nn.ModuleList([
            ConvLayer(dims[i], dims[i + 1], k, s, cfg["conv_bias"], i == 0 and cfg["feat_extract_norm"] == "group")
            for i, (k, s) in enumerate(zip(cfg["conv_kernel"], cfg["conv_stride"]))])

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = wave[:, None]
        for layer in self.conv_layers:
            x = layer(x)
        return x


class FeatureProjection(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.layer_norm = nn.LayerNorm(cfg["conv_dim"][-1], eps=cfg["layer_norm_eps"])
        self.projection = nn.Linear(cfg["conv_dim"][-1], cfg["hidden_size"])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        normed = self.layer_norm(x)
        return self.projection(normed), normed


class PositionalConvEmbedding(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        h, k = cfg["hidden_size"], cfg["num_conv_pos_embeddings"]
        conv = nn.Conv1d(h, h, k, padding=k // 2, groups=cfg["num_conv_pos_embedding_groups"])
        self.conv = nn.utils.weight_norm(conv, name="weight", dim=2)
        self.remove = 1 if k % 2 == 0 else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x.transpose(1, 2))
        if self.remove:
            y = y[:, :, :-self.remove]
        return F.gelu(y).transpose(1, 2)


class Attention(nn.Module):
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


class FeedForward(nn.Module):
    def __init__(self, hidden: int, intermediate: int):
        super().__init__()
        self.intermediate_dense = nn.Linear(hidden, intermediate)
        self.output_dense = nn.Linear(intermediate, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_dense(F.gelu(self.intermediate_dense(x)))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        h, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.attention = Attention(h, cfg["num_attention_heads"])
        self.layer_norm = nn.LayerNorm(h, eps=eps)
        self.feed_forward = FeedForward(h, cfg["intermediate_size"])
        self.final_layer_norm = nn.LayerNorm(h, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer_norm(x + self.attention(x))
        return self.final_layer_norm(x + self.feed_forward(x))


class Encoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.pos_conv_embed = PositionalConvEmbedding(cfg)
        self.layer_norm = nn.LayerNorm(cfg["hidden_size"], eps=cfg["layer_norm_eps"])
        self.layers = nn.ModuleList([EncoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])

    def forward(self, x: torch.Tensor, rec: dict | None = None) -> torch.Tensor:
        x = self.layer_norm(x + self.pos_conv_embed(x))
        if rec is not None:
            rec["pos_embedded"] = x
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if rec is not None:
                rec[f"layers.{i}"] = x
        return x


class AudioEncoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.config = cfg
        self.feature_extractor = FeatureExtractor(cfg)
        self.feature_projection = FeatureProjection(cfg)
        self.masked_spec_embed = nn.Parameter(torch.empty(cfg["hidden_size"]).uniform_())
        self.encoder = Encoder(cfg)

    def forward(self, waveform: torch.Tensor, return_intermediates: bool = False):
        """waveform [B, S] → last_hidden_state [B, T, hidden]; with return_intermediates also a dict:
        `extract_features` (conv stack output, [B, T, C]), `projected`, `pos_embedded`, `layers.N`."""
        rec = {} if return_intermediates else None
        if self.config.get("normalize_input", False):
            mean = waveform.mean(-1, keepdim=True)
            var = waveform.var(-1, unbiased=False, keepdim=True)
            waveform = (waveform - mean) / torch.sqrt(var + 1e-7)
        features = self.feature_extractor(waveform).transpose(1, 2)
        hidden, _ = self.feature_projection(features)
        if rec is not None:
            rec["extract_features"] = features
            rec["projected"] = hidden
        out = self.encoder(hidden, rec)
        return (out, rec) if return_intermediates else out
