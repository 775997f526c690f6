"""Coefficient encoder: per frame, the pose part (`global_rot`, 3 numbers) and the expression part (`eyes, jaw,
eyelids, expression`, 117 numbers) through separate MLPs (Linear → SiLU → Linear to K·D, then LayerNorm over D)
to Kp pose tokens and Ke expression tokens. Two paths, so pose and expression can be trained, frozen and edited
independently. The unconditional branch of guidance uses zero tokens (`null_tokens`), not the encoding of zero
coefficients (which is a neutral face, a condition of its own)."""

from __future__ import annotations

import torch
from torch import nn


class CoeffEncoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.config = cfg
        h, d = cfg["hidden_size"], cfg["token_dim"]
        self.pose_mlp = nn.Sequential(nn.Linear(cfg["pose_dim"], h), nn.SiLU(), nn.Linear(h, cfg["pose_tokens"] * d))
        self.pose_norm = nn.LayerNorm(d)
        self.expr_mlp = nn.Sequential(nn.Linear(cfg["expr_dim"], h), nn.SiLU(), nn.Linear(h, cfg["expr_tokens"] * d))
        self.expr_norm = nn.LayerNorm(d)

    def forward(self, coeffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """coeffs [B, F, 120] → pose [B, F, Kp, D], expression [B, F, Ke, D]."""
        c = self.config
        pose_in, expr_in = coeffs[..., :c["pose_dim"]], coeffs[..., c["pose_dim"]:c["pose_dim"] + c["expr_dim"]]
        pose = self.pose_mlp(pose_in).unflatten(-1, (c["pose_tokens"], c["token_dim"]))
        expr = self.expr_mlp(expr_in).unflatten(-1, (c["expr_tokens"], c["token_dim"]))
        return self.pose_norm(pose), self.expr_norm(expr)

    def null_tokens(self, batch: int, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        return (torch.zeros(batch, frames, c["pose_tokens"], c["token_dim"]),
                torch.zeros(batch, frames, c["expr_tokens"], c["token_dim"]))
