"""Generation with the reference: guidance, clip chaining and frame counts."""

import os
import sys

import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOOLS)

import gen_fixtures  # noqa: E402
from flap_ref.config import load_config  # noqa: E402
from flap_ref.pipeline import SamplingOptions, denoise_clip, generate, num_frames, reference, tokens  # noqa: E402
from flap_ref.schedulers import Sampler  # noqa: E402
from flap_ref.unet_blocks import Context  # noqa: E402

CFG = load_config("test")


def setup():
    model = gen_fixtures.build_model(CFG)
    g = torch.Generator().manual_seed(3)
    image = torch.rand(3, 64, 64, generator=g) * 2 - 1
    ref_coeffs = torch.randn(120, generator=g) * 0.1
    return model, image, ref_coeffs, g


def test_frame_count_rule():
    assert num_frames(CFG, 16000) == 25 and num_frames(CFG, 639) == 0 and num_frames(CFG, 641) == 1


def test_guidance_scale_one_is_the_conditional_model():
    model, image, ref_coeffs, g = setup()
    latent, features = reference(model, image, ref_coeffs)
    coeffs = torch.randn(4, 120, generator=g) * 0.3
    noise = torch.randn(4, *latent.shape, generator=g)
    motion, motion_c = latent[None], ref_coeffs[None]
    options = SamplingOptions(steps=3, guidance_scale=1.0)
    guided = denoise_clip(model, noise, coeffs, motion, motion_c, features, options)
    # The same steps with the conditional branch alone.
    pose, expr = tokens(model, torch.cat([motion_c, coeffs]))
    sampler = Sampler("ddim", 3, CFG["scheduler"])
    x = noise
    with torch.no_grad():
        for t in sampler.timesteps:
            eps = model.unet(torch.cat([motion, x]), torch.full((5,), t, dtype=torch.long),
                             Context(pose, expr, frames=5, reference=features))[1:]
            x = sampler.step(x, eps, eps, 1.0)
    torch.testing.assert_close(guided, x, rtol=1e-5, atol=1e-5)


def test_clips_chain_through_motion_frames():
    model, image, ref_coeffs, g = setup()
    coeffs = torch.randn(6, 120, generator=g) * 0.3   # 4 + 2 frames: two clips, the second padded
    options = SamplingOptions(steps=2, guidance_scale=2.0, seed=5)
    rec_a, rec_b = {}, {}
    frames, used = generate(model, None, image, ref_coeffs, options, coeffs=coeffs, record=rec_a)
    assert frames.shape == (6, 3, 64, 64) and torch.equal(used, coeffs)
    assert 0 <= float(frames.min()) and float(frames.max()) <= 1
    # A different first clip changes the second one only through the motion frames.
    generate(model, None, image, ref_coeffs, SamplingOptions(steps=2, guidance_scale=2.0, seed=5),
             coeffs=torch.cat([coeffs[:4] * 2, coeffs[4:]]), record=rec_b)
    assert (rec_a["clip1.noise"] == rec_b["clip1.noise"]).all()
    assert (rec_a["clip1.latents"] - rec_b["clip1.latents"]).abs().max() > 1e-4
