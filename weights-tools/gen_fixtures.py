"""Writes the golden fixtures of the `test` config to tests/fixtures/ (one command, fixed seeds):

  /usr/bin/python3 weights-tools/gen_fixtures.py [--out tests/fixtures]

  speech.wav                      1.0 s of espeak-ng speech, 16 kHz mono (made once, then reused as committed)
  test_weights.safetensors        every weight of the test model (FlapModel state dict; F16 values, see below)
  test_modules.safetensors        each module on its own: inputs, outputs, main intermediates
  test_generation.safetensors     one whole generation (audio + portrait → coefficients → 2 guided DDIM steps
                                  per clip → frames) with its intermediates
  test_schedules.safetensors      per-step sampler constants (DDIM and DPM-Solver++(2M)) for several step counts

Weights: the freshly initialised model has zero or constant parameters (motion modules' `proj_out`, norm
affines) that would hide whole paths from a parity test, so every constant parameter gets small random values.
Then every weight is rounded to the nearest float16, and the file stores F16: the reference computes in
float32 with exactly these values, so a runtime that keeps weights as f16 and one that widens them to f32
must both reproduce the fixtures to float32 accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from flap_ref import schedulers  # noqa: E402
from flap_ref.config import load_config  # noqa: E402
from flap_ref.model import FlapModel  # noqa: E402
from flap_ref.pipeline import SamplingOptions, generate  # noqa: E402
from flap_ref.safetensors import save_file  # noqa: E402

SEED = 20261124
IDENTITY = 7
SPEECH_TEXT = "Hello there, friend."
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "tests", "fixtures")


def make_speech(path: str, seconds: float = 1.0, rate: int = 16000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.wav")
        subprocess.run(["espeak-ng", "-v", "en", "-s", "190", "-w", raw, SPEECH_TEXT], check=True)
        subprocess.run(["sox", raw, "-r", str(rate), "-c", "1", "-b", "16", path,
                        "trim", "0", str(seconds), "pad", "0", str(seconds), "trim", "0", str(seconds)], check=True)


def read_wav(path: str) -> torch.Tensor:
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, path
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return torch.from_numpy(data.astype(np.float32) / 32768.0)


def portrait(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A neutral render of identity 7 from the head world: image [3, size, size] in [-1, 1] and its coeffs."""
    from world import motion
    from world.head import HeadModel, sample_identity
    from world.render import Renderer
    model = HeadModel()
    coeffs = motion.reference_coeffs(np.random.default_rng(IDENTITY)).astype(np.float32)
    img = Renderer(model, sample_identity(IDENTITY), size=size, ss=4).render_float(coeffs[None])[0]
    return img.permute(2, 0, 1).contiguous() * 2 - 1, torch.from_numpy(coeffs)


def build_model(cfg: dict, seed: int = SEED, fan_in: bool = False) -> FlapModel:
    """The reference's initialisation with every constant parameter (norm scales, zero biases and zero-initialised
    projections) perturbed, so no path is the identity; values rounded to f16. The perturbation of a weight is
    scaled by its last dimension, or with `fan_in` by its fan-in (for deep configs such as sd15, where a 3x3
    kernel's last dimension would give far too large a scale)."""
    torch.manual_seed(seed)
    model = FlapModel(cfg).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() > 1 and bool((p == p.flatten()[0]).all()):
                scale = 0.1 if p.dim() == 1 else (p[0].numel() if fan_in else p.shape[-1]) ** -0.5
                p.add_(torch.randn(p.shape, generator=g) * scale)
            p.copy_(p.half().float())
    return model


def module_cases(model: FlapModel, cfg: dict, audio: torch.Tensor, image: torch.Tensor,
                 ref_coeffs: torch.Tensor) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(SEED + 2)
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        out["audio_encoder.input"] = audio[None]
        feats, inter = model.audio_encoder(audio[None], return_intermediates=True)
        out["audio_encoder.output"] = feats
        for k, v in inter.items():
            out[f"audio_encoder.{k}"] = v
        frames = 25
        out["audio2flame.input"] = feats
        out["audio2flame.num_frames"] = torch.tensor([frames], dtype=torch.int32)
        out["audio2flame.ref_coeffs"] = ref_coeffs[None]
        coeffs, inter = model.audio2flame(feats, frames, ref_coeffs[None], return_intermediates=True)
        out["audio2flame.output"] = coeffs
        for k, v in inter.items():
            out[f"audio2flame.{k}"] = v
        c = torch.randn(2, 3, 120, generator=g) * 0.5
        pose, expr = model.coeff_encoder(c)
        out["coeff_encoder.input"], out["coeff_encoder.pose_tokens"], out["coeff_encoder.expr_tokens"] = c, pose, expr
        for name in ("autoencoder", "preview_autoencoder"):
            ae = getattr(model, name)
            x = image[None]
            z, inter = ae.encode(x, return_intermediates=True)
            out[f"{name}.encode.input"], out[f"{name}.encode.output"] = x, z
            for k, v in inter.items():
                out[f"{name}.encode.{k}"] = v
            zr = torch.randn(1, *z.shape[1:], generator=g)
            y, inter = ae.decode(zr, return_intermediates=True)
            out[f"{name}.decode.input"], out[f"{name}.decode.output"] = zr, y
            for k, v in inter.items():
                out[f"{name}.decode.{k}"] = v
    return {k: v.float().contiguous() if v.is_floating_point() else v.contiguous() for k, v in out.items()}


def schedule_cases(cfg: dict) -> dict[str, torch.Tensor]:
    out = {}
    for kind, counts in (("ddim", (1, 2, 7, 50)), ("dpmpp_2m", (2, 5, 20))):
        for steps in counts:
            plan = schedulers.plan(kind, steps, cfg["scheduler"])
            for key, values in plan.items():
                out[f"{kind}.{steps}.{key}"] = torch.tensor(np.asarray(values, dtype=np.float64))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)  # identical summation order on every run of this machine
    cfg = load_config("test")
    speech = os.path.join(args.out, "speech.wav")
    if not os.path.exists(speech):
        committed = os.path.join(DEFAULT_OUT, "speech.wav")
        if os.path.exists(committed):
            with open(committed, "rb") as src, open(speech, "wb") as dst:
                dst.write(src.read())
        else:
            make_speech(speech)
    audio = read_wav(speech)
    image, ref_coeffs = portrait(cfg["video"]["height"])
    model = build_model(cfg)
    meta = {"seed": str(SEED), "torch": torch.__version__, "config": "test", "generator": "weights-tools/gen_fixtures.py"}

    weights = {k: v.half() for k, v in model.state_dict().items()}
    save_file(weights, os.path.join(args.out, "test_weights.safetensors"),
              {**meta, "description": "FlapModel state dict of the test config; F16 values (the reference computes "
                                      "in float32 with exactly these)"})

    modules = module_cases(model, cfg, audio, image, ref_coeffs)
    save_file(modules, os.path.join(args.out, "test_modules.safetensors"),
              {**meta, "description": "per-module inputs, outputs and intermediates; <module>.input / .output; "
                                      "images NCHW in [-1, 1]",
               "shapes": json.dumps({k: list(v.shape) for k, v in modules.items()})})

    options = SamplingOptions(sampler="ddim", steps=2, guidance_scale=cfg["scheduler"]["default_guidance_scale"],
                              seed=SEED)
    record: dict[str, torch.Tensor] = {}
    generate(model, audio, image, ref_coeffs, options, record=record)
    record = {"audio": audio, "image": image, "ref_coeffs": ref_coeffs, **record}
    record = {k: v.float().contiguous() if v.is_floating_point() else v.contiguous() for k, v in record.items()}
    save_file(record, os.path.join(args.out, "test_generation.safetensors"),
              {**meta, "description": "whole generation: audio [S] 16 kHz, image [3,H,W] in [-1,1], ref_coeffs "
                                      "[120], coefficients [frames,120], reference_latent, reference_features.<key> "
                                      "[HW,C], clip<c>.noise/latents [F,4,h,w], first clip's first UNet call "
                                      "(unet_input [2(M+F),4,h,w] cond then uncond, unet_timestep, unet_pose_tokens, unet_expr_tokens, unet.<block>, unet_output), "
                                      "step<i>.latents of clip 0, frames [frames,3,H,W] in [0,1]",
               "sampler": options.sampler, "steps": str(options.steps),
               "guidance_scale": str(options.guidance_scale), "noise_seed": str(options.seed)})

    save_file(schedule_cases(cfg), os.path.join(args.out, "test_schedules.safetensors"),
              {**meta, "description": "<sampler>.<steps>.<constant>: per-step constants in float64"})
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"fixtures in {args.out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
