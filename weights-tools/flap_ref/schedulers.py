"""Samplers: DDIM (η = 0) and DPM-Solver++(2M) with classifier-free guidance, in exactly the form of
src/ops/sampler/schedule.ts and shaders/sampler/cfg_step.wgsl (the TypeScript side runs each step as one fused
kernel). Per-step constants are computed once, in float64:

  eps  = eps_u + s · (eps_c − eps_u)
  x0   = (x − sigma_s · eps) · inv_alpha_s
  x'   = cx · x + c0 · x0 + ce · eps + c1 · (x0 − x0_prev)

DDIM: cx = c1 = 0, c0 = sqrt(ā_next), ce = sqrt(1 − ā_next). DPM-Solver++(2M) (Lu et al. 2022, multistep,
data prediction): ce = 0, cx = sigma_t / sigma_s, c0 = −alpha_t · expm1(−h), c1 = c0 / (2 r) with
r = h_prev / h; first order at the first step and, below 15 steps, at the last one.
Betas "scaled_linear": linspace(sqrt(β0), sqrt(β1), 1000)². Timesteps, descending, either
  "leading" (SD): t_i = (N − 1 − i) · floor(1000 / N) + steps_offset, or
  "trailing": t_i = floor((N − i) · 1000 / N) − 1, which starts at t = 999, where sampling really starts (pure
  noise); with few steps "leading" starts far lower (t = 501 for 2 steps) and asks the model to denoise noise it
  was told is half signal.
Each step goes to the next timestep, and the last one to ā_0 (SD's set_alpha_to_one = false).
"""

from __future__ import annotations

import math

import numpy as np
import torch

KINDS = ("ddim", "dpmpp_2m")


def alphas_cumprod(cfg: dict) -> np.ndarray:
    if cfg.get("beta_schedule", "scaled_linear") != "scaled_linear":
        raise ValueError(f"only scaled_linear betas are implemented, not {cfg['beta_schedule']!r}")
    n = cfg["num_train_timesteps"]
    betas = np.linspace(math.sqrt(cfg["beta_start"]), math.sqrt(cfg["beta_end"]), n, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


SPACINGS = ("leading", "trailing")


def timesteps(cfg: dict, steps: int) -> list[int]:
    n = cfg["num_train_timesteps"]
    if not (isinstance(steps, int) and 1 <= steps <= n):
        raise ValueError(f"steps must be an integer in 1..{n}, got {steps!r}")
    spacing = cfg.get("timestep_spacing", "leading")
    if spacing == "leading":
        ratio = n // steps
        return [(steps - 1 - i) * ratio + cfg.get("steps_offset", 1) for i in range(steps)]
    if spacing == "trailing":
        return [(steps - i) * n // steps - 1 for i in range(steps)]
    raise ValueError(f"unknown timestep_spacing {spacing!r}; expected one of {SPACINGS}")


def plan(kind: str, steps: int, cfg: dict) -> dict[str, list[float]]:
    """Per-step constants: t, alpha_bar, alpha_bar_next, sigma_s, inv_alpha_s, cx, c0, c1, ce, order."""
    if kind not in KINDS:
        raise ValueError(f"unknown sampler {kind!r}; expected one of {KINDS}")
    ac = alphas_cumprod(cfg)
    ts = timesteps(cfg, steps)
    abar = lambda t: ac[t] if t >= 0 else ac[0]  # noqa: E731
    lam = lambda a: 0.5 * math.log(a / (1 - a))  # noqa: E731
    out = {k: [] for k in ("t", "alpha_bar", "alpha_bar_next", "sigma_s", "inv_alpha_s", "cx", "c0", "c1", "ce",
                           "order")}
    for i, t in enumerate(ts):
        a_s, a_t = abar(t), abar(ts[i + 1] if i + 1 < len(ts) else -1)
        row = {"t": t, "alpha_bar": a_s, "alpha_bar_next": a_t, "sigma_s": math.sqrt(1 - a_s),
               "inv_alpha_s": 1 / math.sqrt(a_s)}
        if kind == "ddim":
            row.update(cx=0.0, c0=math.sqrt(a_t), c1=0.0, ce=math.sqrt(1 - a_t), order=1)
        else:
            h = lam(a_t) - lam(a_s)
            c0 = -math.sqrt(a_t) * math.expm1(-h)
            row.update(cx=math.sqrt(1 - a_t) / math.sqrt(1 - a_s), c0=c0, c1=0.0, ce=0.0, order=1)
            if i > 0 and not (i == len(ts) - 1 and len(ts) < 15):
                r = (lam(a_s) - lam(abar(ts[i - 1]))) / h
                row.update(c1=0.5 * c0 / r, order=2)
        for k, v in row.items():
            out[k].append(float(v))
    return out


class Sampler:
    """Runs a plan step by step; keeps DPM-Solver++'s previous x0."""

    def __init__(self, kind: str, steps: int, cfg: dict):
        self.kind = kind
        self.constants = plan(kind, steps, cfg)
        self.timesteps = [int(t) for t in self.constants["t"]]
        self.index = 0
        self.x0_prev: torch.Tensor | None = None

    def step(self, x: torch.Tensor, eps_cond: torch.Tensor, eps_uncond: torch.Tensor,
             guidance_scale: float) -> torch.Tensor:
        c = {k: v[self.index] for k, v in self.constants.items()}
        eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
        x0 = (x - c["sigma_s"] * eps) * c["inv_alpha_s"]
        out = c["cx"] * x + c["c0"] * x0 + c["ce"] * eps
        if c["order"] == 2:
            out = out + c["c1"] * (x0 - self.x0_prev)
        self.x0_prev = x0
        self.index += 1
        return out
