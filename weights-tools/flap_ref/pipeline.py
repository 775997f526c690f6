"""Generation with the FLAP reference: audio → coefficients → clips of guided denoising → frames.

Choices where the paper is silent (the TypeScript pipeline follows them exactly):
- Frames: `num_frames = floor(samples · fps / sample_rate)`.
- Guidance: every UNet call runs a batch of two videos, [conditional, unconditional]; the unconditional one
  gets ZERO pose and expression tokens (coeff_encoder.null_tokens), the ReferenceNet features stay in both.
  `eps = eps_u + s · (eps_c − eps_u)` and the sampler update are one step (schedulers.py).
- Clips: F = frames_per_clip new frames per clip, with M = motion_frames clean frames in front of them. The
  UNet sees M + F frames per video; the M motion frames are the last M latents of the previous clip (for the
  first clip: the portrait's latent repeated), with their own coefficients, and are never noised: at every
  step they are put back in front of the noisy latents, and their outputs are discarded. The temporal
  attention thus sees where the motion comes from, so clips join without seams. The last clip is padded by
  repeating the last coefficient row, and the padding frames are dropped.
- Noise: one [F, 4, h, w] standard normal draw per clip, from `torch.Generator().manual_seed(seed + clip)`.
- Geometry guide (config `unet.guide`): every frame's coefficients (motion frames' too) are drawn by the head
  asset's `GuideRenderer` (guide.py); the portrait's own coefficients give the ReferenceNet's guide. The
  unconditional half of the guidance batch gets zero guides, like its zero tokens: the condition dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .model import FlapModel
from .schedulers import Sampler
from .unet_blocks import Context


def num_frames(cfg: dict, samples: int) -> int:
    video = cfg["video"]
    return samples * video["fps"] // video["sample_rate"]


@torch.no_grad()
def audio_to_coefficients(model: FlapModel, audio: torch.Tensor, ref_coeffs: torch.Tensor | None,
                          record: dict | None = None) -> torch.Tensor:
    """audio [S] at 16 kHz → [frames, 120]."""
    frames = num_frames(model.config, audio.shape[-1])
    if frames < 1:
        raise ValueError(f"{audio.shape[-1]} samples are shorter than one video frame")
    features = model.audio_encoder(audio[None])
    ref = None if ref_coeffs is None else ref_coeffs[None]
    coeffs = model.audio2flame(features, frames, ref)[0]
    if record is not None:
        record["audio_features"] = features[0]
        record["coefficients"] = coeffs
    return coeffs


@torch.no_grad()
def estimate(model: FlapModel, images: torch.Tensor) -> torch.Tensor:
    """images [N, 3, H, W] in [-1, 1] → their coefficients [N, 120] read by the model's estimator (estimator.py)."""
    from .estimator import to_coefficients
    if not hasattr(model, "estimator"):
        raise ValueError("this model has no estimator (config estimator)")
    return to_coefficients(model.estimator(images))


def tokens(model: FlapModel, coeffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[frames, 120] → pose [frames, Kp, D], expression [frames, Ke, D] (None without expression attention)."""
    pose, expr = model.coeff_encoder(coeffs[None])
    return pose[0], (expr[0] if model.config["unet"]["expression_attention"] else None)


def guides(model: FlapModel, renderer, coeffs: torch.Tensor) -> torch.Tensor | None:
    """[frames, 120] → guide images [frames, 3, S, S] when the config has a guide (else None)."""
    if "guide" not in model.config["unet"]:
        return None
    if renderer is None:
        raise ValueError("this model has a geometry guide (config unet.guide): pass its GuideRenderer")
    return renderer.render(coeffs)


@torch.no_grad()
def reference(model: FlapModel, image: torch.Tensor, ref_coeffs: torch.Tensor,
              record: dict | None = None, renderer=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """image [3, H, W] in [-1, 1] → its latent [4, h, w] and the ReferenceNet features (batch 1)."""
    latent = model.autoencoder.encode(image[None])
    pose, expr = tokens(model, ref_coeffs[None])
    guide = guides(model, renderer, ref_coeffs[None])
    features = model.reference_net(latent, pose, expr, guide=guide)
    if record is not None and guide is not None:
        record["reference_guide"] = guide[0]
    if record is not None:
        record["reference_latent"] = latent[0]
        for key, value in features.items():
            record[f"reference_features.{key}"] = value[0]
    return latent[0], features


@dataclass
class SamplingOptions:
    sampler: str = "ddim"
    steps: int = 2
    guidance_scale: float = 2.0
    seed: int = 0


@torch.no_grad()
def denoise_clip(model: FlapModel, noise: torch.Tensor, coeffs: torch.Tensor, motion_latents: torch.Tensor,
                 motion_coeffs: torch.Tensor, features: dict[str, torch.Tensor], options: SamplingOptions,
                 record: dict | None = None, renderer=None) -> torch.Tensor:
    """One clip: noise [F, 4, h, w], coeffs [F, 120], motion [M, 4, h, w] and [M, 120] → latents [F, 4, h, w]."""
    m = motion_latents.shape[0]
    frames = m + noise.shape[0]
    all_coeffs = torch.cat([motion_coeffs, coeffs])
    pose, expr = tokens(model, all_coeffs)
    guide = guides(model, renderer, all_coeffs)
    batch_guide = None if guide is None else torch.cat([guide, torch.zeros_like(guide)])
    null_pose = torch.zeros_like(pose)
    batch_pose = torch.cat([pose, null_pose])
    batch_expr = None if expr is None else torch.cat([expr, torch.zeros_like(expr)])
    sampler = Sampler(options.sampler, options.steps, model.config["scheduler"])
    x = noise
    for i, t in enumerate(sampler.timesteps):
        video = torch.cat([motion_latents, x])
        sample = torch.cat([video, video])
        intermediates = {} if (record is not None and i == 0) else None
        ctx = Context(batch_pose, batch_expr, frames=frames, reference=features, intermediates=intermediates,
                      guide=batch_guide)
        eps = model.unet(sample, torch.full((2 * frames,), t, dtype=torch.long), ctx)
        eps_cond, eps_uncond = eps[m:frames], eps[frames + m:]
        x = sampler.step(x, eps_cond, eps_uncond, options.guidance_scale)
        if record is not None:
            if intermediates is not None:
                record["unet_input"] = sample
                record["unet_timestep"] = torch.tensor([t])
                record["unet_pose_tokens"] = batch_pose
                if batch_expr is not None:
                    record["unet_expr_tokens"] = batch_expr
                if guide is not None:
                    record["unet_guide"] = guide
                for key, value in intermediates.items():
                    record[f"unet.{key}"] = value
                record["unet_output"] = eps
            record[f"step{i}.latents"] = x
    return x


@torch.no_grad()
def generate(model: FlapModel, audio: torch.Tensor | None, image: torch.Tensor, ref_coeffs: torch.Tensor,
             options: SamplingOptions, coeffs: torch.Tensor | None = None,
             record: dict | None = None, renderer=None) -> tuple[torch.Tensor, torch.Tensor]:
    """audio [S] (or explicit coeffs [frames, 120]) + image [3, H, W] in [-1, 1] + the portrait's own coefficients
    [120] (None: estimated from the image by the model's estimator) → frames [frames, 3, H, W] in [0, 1] and the
    coefficients used. `record` collects the intermediates
    of the first clip and every clip's latents. `renderer` (guide.GuideRenderer) draws the geometry guides of a
    model whose config has one."""
    cfg = model.config
    if ref_coeffs is None:
        ref_coeffs = estimate(model, image[None])[0]
    if coeffs is None:
        coeffs = audio_to_coefficients(model, audio, ref_coeffs, record)
    total = coeffs.shape[0]
    f, m = cfg["video"]["frames_per_clip"], cfg["video"]["motion_frames"]
    ref_latent, features = reference(model, image, ref_coeffs, record, renderer)
    motion_latents = ref_latent[None].repeat(m, 1, 1, 1)
    motion_coeffs = ref_coeffs[None].repeat(m, 1)
    clips = math.ceil(total / f)
    padded = torch.cat([coeffs, coeffs[-1:].repeat(clips * f - total, 1)])
    latents = []
    for c in range(clips):
        clip_coeffs = padded[c * f:(c + 1) * f]
        noise = torch.randn(f, *ref_latent.shape, generator=torch.Generator().manual_seed(options.seed + c))
        clip_record = record if (record is not None and c == 0) else None
        out = denoise_clip(model, noise, clip_coeffs, motion_latents, motion_coeffs, features, options, clip_record,
                           renderer)
        if record is not None:
            record[f"clip{c}.noise"] = noise
            record[f"clip{c}.latents"] = out
        latents.append(out)
        motion_latents, motion_coeffs = out[f - m:], clip_coeffs[f - m:]
    latents = torch.cat(latents)[:total]
    images = model.autoencoder.decode(latents)
    frames = ((images.clamp(-1, 1) + 1) / 2)
    if record is not None:
        record["frames"] = frames
    return frames, coeffs
