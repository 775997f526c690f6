"""FLAP's 3D parameter estimation for flap-mini (config `estimator`): a small CNN that reads a portrait's head
pose, jaw opening, eyelids and the 12 named expressions from a frame. It gives the portrait's own coefficients
when a caller has none, and reads a video's frames so that one video can drive another portrait. The same
network (trained by train/probe.py on the head world's renders) measures generated frames in evaluation.

Layout (names under `estimator.`): `features` is an nn.Sequential of five levels, each
  Conv2d(c → w, 3x3, stride 2) · GroupNorm(8, w) · SiLU · Conv2d(w → w, 3x3) · SiLU      (indices 5i .. 5i+4)
with w = width · (1, 2, 2, 4, 4); `head` is a Linear over the flattened [4·width, 4, 4] map (channel-major,
as torch flattens NCHW). Outputs (ESTIMATES) are scaled back to natural units by SCALE.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

NAMED = 12
ESTIMATES = ["yaw", "pitch", "roll", "jaw", "eyelid_left", "eyelid_right"] + [f"expr{i}" for i in range(NAMED)]
# Per-output scale so that every output has a comparable loss: degrees vs unit coefficients.
SCALE = [10.0, 10.0, 10.0, 0.2, 0.5, 0.5] + [0.5] * NAMED


class Estimator(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        layers, c = [], 3
        for w in (width, width * 2, width * 2, width * 4, width * 4):
            layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.GroupNorm(8, w), nn.SiLU(),
                       nn.Conv2d(w, w, 3, padding=1), nn.SiLU()]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c * 16, len(ESTIMATES))
        self.register_buffer("scale", torch.tensor(SCALE), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, 3, 128, 128] in [-1, 1] → ESTIMATES in their natural units (degrees, radians, 0..1)."""
        return self.head(self.features(x).flatten(1)) * self.scale


def euler_matrix(ypr_deg: torch.Tensor) -> torch.Tensor:
    """[B, 3] yaw, pitch, roll in degrees → R = Ry Rx Rz [B, 3, 3] (world/head.py's convention)."""
    y, p, r = torch.deg2rad(ypr_deg).unbind(-1)
    o, z = torch.ones_like(y), torch.zeros_like(y)
    ry = torch.stack([y.cos(), z, y.sin(), z, o, z, -y.sin(), z, y.cos()], -1).view(-1, 3, 3)
    rx = torch.stack([o, z, z, z, p.cos(), -p.sin(), z, p.sin(), p.cos()], -1).view(-1, 3, 3)
    rz = torch.stack([r.cos(), -r.sin(), z, r.sin(), r.cos(), z, z, z, o], -1).view(-1, 3, 3)
    return ry @ rx @ rz


def to_coefficients(estimates: torch.Tensor) -> torch.Tensor:
    """[B, len(ESTIMATES)] → FLAP coefficients [B, 120]: the estimated pose (axis-angle), jaw, eyelids and named
    expressions; eyes straight ahead, every other expression component zero."""
    m = euler_matrix(estimates[:, 0:3])
    cos = ((m.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)
    angle = torch.arccos(cos)
    v = torch.stack([m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1)
    s = torch.sin(angle)
    k = torch.where(s > 1e-7, angle / (2 * s.clamp_min(1e-12)), torch.full_like(s, 0.5))
    out = torch.zeros(estimates.shape[0], 120)
    out[:, 0:3] = v * k[:, None]
    out[:, 3:15] = torch.tensor([1.0, 0, 0, 0, 1, 0] * 2)
    out[:, 15] = estimates[:, 3]
    out[:, 18:20] = estimates[:, 4:6].clamp(0, 1)
    out[:, 20:20 + NAMED] = estimates[:, 6:]
    return out


def targets(coeffs: np.ndarray) -> np.ndarray:
    """What the estimator should read from a frame rendered with `coeffs` [..., 120] → [..., len(ESTIMATES)]."""
    return np.concatenate([axis_angle_to_euler(coeffs[..., 0:3]), coeffs[..., 15:16], coeffs[..., 18:20],
                           coeffs[..., 20:20 + NAMED]], -1).astype(np.float32)


def axis_angle_to_euler(v: np.ndarray) -> np.ndarray:
    """[..., 3] axis-angle → [..., 3] (yaw, pitch, roll) degrees, R = Ry Rx Rz."""
    theta = np.linalg.norm(v, axis=-1, keepdims=True)
    k = v / np.maximum(theta, 1e-12)
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    c, s = np.cos(theta[..., 0]), np.sin(theta[..., 0])
    C = 1 - c
    r02 = kx * kz * C + ky * s
    r12 = ky * kz * C - kx * s
    r22 = c + kz * kz * C
    r10 = kx * ky * C + kz * s
    r11 = c + ky * ky * C
    yaw = np.arctan2(r02, r22)
    pitch = np.arcsin(np.clip(-r12, -1, 1))
    roll = np.arctan2(r10, r11)
    return np.degrees(np.stack([yaw, pitch, roll], -1))
