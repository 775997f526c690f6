"""Samplers against closed forms written independently of flap_ref/schedulers.py: the scaled-linear ᾱ, SD's
"leading" timesteps, DDIM (η = 0) as in Song et al., DPM-Solver++(2M) in its log-SNR form (Lu et al. 2022), and
classifier-free guidance."""

from __future__ import annotations

import math

import pytest
import torch

from flap_ref.config import load_config
from flap_ref.schedulers import Sampler, alphas_cumprod, plan, timesteps

CFG = load_config("test")["scheduler"]


def abar_loop(t: int) -> float:
    """ᾱ_t = Π_{i≤t} (1 − β_i), β_i = (√β0 + i/(N−1) · (√β1 − √β0))², in plain float arithmetic."""
    n, b0, b1 = CFG["num_train_timesteps"], math.sqrt(CFG["beta_start"]), math.sqrt(CFG["beta_end"])
    out = 1.0
    for i in range(t + 1):
        out *= 1 - (b0 + i / (n - 1) * (b1 - b0)) ** 2
    return out


def test_alphas_cumprod_closed_form():
    ac = alphas_cumprod(CFG)
    assert ac.shape == (1000,)
    for t in (0, 1, 10, 500, 998, 999):
        assert ac[t] == pytest.approx(abar_loop(t), rel=1e-12)
    assert ac[0] == pytest.approx(1 - 0.00085, rel=1e-12)
    assert 0.004 < ac[999] < 0.005  # SD-1.5's final ᾱ is about 0.0047
    assert all(ac[1:] < ac[:-1])


@pytest.mark.parametrize("steps, expect", [
    (1, [1]),
    (2, [501, 1]),
    (8, [876, 751, 626, 501, 376, 251, 126, 1]),
    (50, list(range(981, 0, -20))),
])
def test_leading_timesteps_match_stable_diffusion(steps, expect):
    assert timesteps(CFG, steps) == expect


@pytest.mark.parametrize("steps, expect", [
    (1, [999]),
    (2, [999, 499]),
    (7, [999, 856, 713, 570, 427, 284, 141]),  # floor((7 - i) · 1000 / 7) − 1: 1000 / 7 is not an integer
    (8, [999, 874, 749, 624, 499, 374, 249, 124]),
])
def test_trailing_timesteps_start_at_pure_noise(steps, expect):
    assert timesteps({**CFG, "timestep_spacing": "trailing"}, steps) == expect


def test_every_step_goes_to_the_next_timestep_and_the_last_to_alpha_bar_0():
    cfg = {**CFG, "timestep_spacing": "trailing"}
    ac = alphas_cumprod(cfg)
    p = plan("ddim", 3, cfg)
    assert p["t"] == [999, 665, 332]
    assert p["alpha_bar_next"] == [ac[665], ac[332], ac[0]]


def test_unknown_spacing_is_refused():
    with pytest.raises(ValueError, match="unknown timestep_spacing"):
        timesteps({**CFG, "timestep_spacing": "linspace"}, 4)


@pytest.mark.parametrize("steps", [0, -1, 1001, 2.5])
def test_bad_step_counts_are_refused(steps):
    with pytest.raises(ValueError, match="steps must be an integer"):
        timesteps(CFG, steps)


def test_unknown_sampler_is_refused():
    with pytest.raises(ValueError, match="unknown sampler"):
        plan("euler", 4, CFG)


def abar(t: int) -> float:
    return abar_loop(t) if t >= 0 else abar_loop(0)


def ddim_textbook(x, eps, t: int, t_next: int):
    a, a_next = abar(t), abar(t_next)
    x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
    return math.sqrt(a_next) * x0 + math.sqrt(1 - a_next) * eps


def dpmpp_2m_log_snr(xs, eps_fn, ts: list[int], ratio: int):
    """DPM-Solver++(2M) from its paper: λ = log(α/σ), h = λ_t − λ_s, x_t = (σ_t/σ_s) x − α_t (e^{−h} − 1) D with
    D = x0 at first order and D = (1 + 1/(2r)) x0 − x0_prev/(2r), r = h_prev/h, at second; first order at the first
    step and, for fewer than 15 steps, at the last one."""
    x, x0_prev, h_prev = xs, None, None
    for i, t in enumerate(ts):
        a_s, a_t = abar(t), abar(t - ratio)
        alpha_s, sigma_s, alpha_t, sigma_t = math.sqrt(a_s), math.sqrt(1 - a_s), math.sqrt(a_t), math.sqrt(1 - a_t)
        h = math.log(alpha_t / sigma_t) - math.log(alpha_s / sigma_s)
        x0 = (x - sigma_s * eps_fn(x, t)) / alpha_s
        second = i > 0 and not (i == len(ts) - 1 and len(ts) < 15)
        d = x0 if not second else (1 + h / (2 * h_prev)) * x0 - h / (2 * h_prev) * x0_prev
        x = sigma_t / sigma_s * x - alpha_t * (math.exp(-h) - 1) * d
        x0_prev, h_prev = x0, h
    return x


def model_eps(x: torch.Tensor, t: int) -> torch.Tensor:
    """A smooth, state-dependent stand-in for a denoiser, so that successive x0 estimates differ."""
    return torch.tanh(0.7 * x + 0.001 * t) + 0.1 * torch.sin(3 * x)


@pytest.mark.parametrize("steps", [1, 2, 5, 8])
def test_ddim_matches_the_textbook_update(steps):
    g = torch.Generator().manual_seed(steps)
    x = torch.randn(64, generator=g, dtype=torch.float64)
    ref = x.clone()
    sampler = Sampler("ddim", steps, CFG)
    ratio = 1000 // steps
    for t in sampler.timesteps:
        e = model_eps(x, t)
        x = sampler.step(x, e, e, 1.0)
        ref = ddim_textbook(ref, model_eps(ref, t), t, t - ratio)
    torch.testing.assert_close(x, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("steps", [2, 3, 8, 20])
def test_dpmpp_2m_matches_the_log_snr_form(steps):
    g = torch.Generator().manual_seed(100 + steps)
    x = torch.randn(64, generator=g, dtype=torch.float64)
    sampler = Sampler("dpmpp_2m", steps, CFG)
    ref = dpmpp_2m_log_snr(x.clone(), model_eps, sampler.timesteps, 1000 // steps)
    for t in sampler.timesteps:
        e = model_eps(x, t)
        x = sampler.step(x, e, e, 1.0)
    torch.testing.assert_close(x, ref, rtol=1e-10, atol=1e-10)
    orders = plan("dpmpp_2m", steps, CFG)["order"]
    assert orders[0] == 1 and (orders[-1] == 1) == (steps < 15) and all(o == 2 for o in orders[1:-1])


@pytest.mark.parametrize("kind", ["ddim", "dpmpp_2m"])
def test_an_exact_denoiser_lands_on_its_data_point(kind):
    """With ε from the true x0, both samplers stay on the trajectory α x0 + σ ε of the starting noise."""
    g = torch.Generator().manual_seed(7)
    x0_true, noise = torch.randn(32, generator=g, dtype=torch.float64), torch.randn(32, generator=g, dtype=torch.float64)
    sampler = Sampler(kind, 6, CFG)
    a = abar(sampler.timesteps[0])
    x = math.sqrt(a) * x0_true + math.sqrt(1 - a) * noise
    for t in sampler.timesteps:
        a = abar(t)
        e = (x - math.sqrt(a) * x0_true) / math.sqrt(1 - a)
        x = sampler.step(x, e, e, 1.0)
    a0 = abar(0)
    torch.testing.assert_close(x, math.sqrt(a0) * x0_true + math.sqrt(1 - a0) * noise, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ["ddim", "dpmpp_2m"])
def test_guidance_combines_before_the_update(kind):
    g = torch.Generator().manual_seed(3)
    x, ec, eu = (torch.randn(16, generator=g, dtype=torch.float64) for _ in range(3))
    one, cond, scaled, combined = (Sampler(kind, 4, CFG) for _ in range(4))
    torch.testing.assert_close(one.step(x, ec, eu, 1.0), cond.step(x, ec, ec, 1.0), rtol=1e-14, atol=1e-14)
    s = 3.5
    torch.testing.assert_close(scaled.step(x, ec, eu, s), combined.step(x, eu + s * (ec - eu), eu + s * (ec - eu), 1.0),
                               rtol=1e-14, atol=1e-14)
