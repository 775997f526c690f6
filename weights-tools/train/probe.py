"""The coefficient probe: a small CNN that reads pose, jaw, eyelids and the named expressions back from a
128×128 frame, trained on ground-truth renders of the world. The evaluation uses it to measure whether
generated frames obey the requested coefficients.

  /usr/bin/python3 weights-tools/train/probe.py --minutes 20

Outputs (PROBE_TARGETS): yaw, pitch, roll in degrees (from global_rot), jaw opening (jaw x, radians), eyelids
left/right, the 12 named expressions.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from common import RUNS, Budget, Log, load_checkpoint, save_checkpoint, seed_all, to_unit
from data import Shards

NAMED = 12
PROBE_TARGETS = ["yaw", "pitch", "roll", "jaw", "eyelid_left", "eyelid_right"] + [f"expr{i}" for i in range(NAMED)]


def axis_angle_to_euler(v: np.ndarray) -> np.ndarray:
    """[..., 3] axis-angle → [..., 3] (yaw, pitch, roll) degrees, R = Ry Rx Rz (world/head.py's convention)."""
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


def targets(coeffs: np.ndarray) -> np.ndarray:
    """[..., 120] → [..., len(PROBE_TARGETS)]."""
    return np.concatenate([axis_angle_to_euler(coeffs[..., 0:3]), coeffs[..., 15:16], coeffs[..., 18:20],
                           coeffs[..., 20:20 + NAMED]], -1).astype(np.float32)


# Per-target scale so that every output has a comparable loss: degrees vs unit coefficients.
SCALE = torch.tensor([10.0, 10.0, 10.0, 0.2, 0.5, 0.5] + [0.5] * NAMED)


class Probe(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        layers, c = [], 3
        for w in (width, width * 2, width * 2, width * 4, width * 4):
            layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.GroupNorm(8, w), nn.SiLU(),
                       nn.Conv2d(w, w, 3, padding=1), nn.SiLU()]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c * 16, len(PROBE_TARGETS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, 3, 128, 128] in [-1, 1] → targets in their natural units."""
        return self.head(self.features(x).flatten(1)) * SCALE


def load_probe() -> Probe:
    probe = Probe()
    probe.load_state_dict(torch.load(os.path.join(RUNS, "probe", "final.pt"), map_location="cpu")["model"])
    return probe.eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    run = os.path.join(RUNS, "probe")
    ckpt_path = os.path.join(run, "checkpoint.pt")
    seed_all(3)
    probe = Probe()
    opt = torch.optim.AdamW(probe.parameters(), lr=1e-3, weight_decay=1e-4)
    step, elapsed = 0, 0.0
    state = load_checkpoint(ckpt_path)
    if state is not None:
        probe.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["elapsed"]
    data = Shards("train", args.shards, seed=step + 5)
    log = Log(run)
    budget = Budget(args.minutes, elapsed)
    last_save = budget.elapsed
    while not budget.done():
        frames, coeffs, _, _ = data.windows(args.batch, 1)
        x = to_unit(frames[:, 0])
        y = torch.from_numpy(targets(coeffs[:, 0]))
        loss = F.smooth_l1_loss(probe(x) / SCALE, y / SCALE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 25 == 0:
            log(step=step, loss=float(loss), minutes=budget.elapsed / 60)
        if budget.elapsed - last_save > 300:
            save_checkpoint(ckpt_path, model=probe.state_dict(), opt=opt.state_dict(), step=step, elapsed=budget.elapsed)
            last_save = budget.elapsed
    save_checkpoint(ckpt_path, model=probe.state_dict(), opt=opt.state_dict(), step=step, elapsed=budget.elapsed)
    probe.eval()
    held = Shards("heldout", 1, seed=9)
    with torch.no_grad():
        frames, coeffs, _, _ = held.windows(256, 1)
        err = (probe(to_unit(frames[:, 0])) - torch.from_numpy(targets(coeffs[:, 0]))).abs().mean(0)
    torch.save({"model": probe.state_dict(), "step": step, "heldout_mae": dict(zip(PROBE_TARGETS, err.tolist()))},
               os.path.join(run, "final.pt"))
    log(step=step, done=1, **{f"mae_{k}": float(v) for k, v in zip(PROBE_TARGETS, err)})


if __name__ == "__main__":
    main()
