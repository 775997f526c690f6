"""Assembles flap-mini from the training runs into a candidate model directory (default .runs/candidate): f16
weights (one safetensors file, the FlapModel names), the config with the latent scale, and the head asset. The
candidate replaces models/flap-mini only through train/ship.py, after evaluate.py and compare.py.

  /usr/bin/python3 weights-tools/train/export.py [--stage video] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

import torch

from common import RUNS, TOOLS
from flap_ref.config import load_config
from flap_ref.model import FlapModel
from flap_ref.safetensors import save_file
from shipped import SHIPPED, START, part, shipped_config, shipped_state

CANDIDATE = os.path.join(RUNS, "candidate")


def safe_metadata(path: str) -> dict:
    """The `__metadata__` of a safetensors file."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n)).get("__metadata__", {})


def assemble(stage: str | None = None) -> tuple[FlapModel, dict, dict]:
    """The model (float32) and its config: the shipped flap-mini, with every part that a training run has
    finished since (autoencoder, the UNet parts of `stage`, by default the latest finished stage, the audio
    head) taken from that run instead."""
    if stage is None:
        stage = next((s for s in ("video", "expression", "pose") if os.path.exists(os.path.join(RUNS, f"unet-{s}", "final.pt"))), "video")
    cfg = load_config("mini")
    state, fresh = shipped_state(cfg)
    model = FlapModel(cfg).eval()
    model.load_state_dict(state)
    shipped_info = safe_metadata(os.path.join(START, "weights.safetensors"))
    info = {k: shipped_info.get(k) for k in ("autoencoder_steps", "unet_steps", "audio_steps")}
    info = {k: int(v) if v not in (None, "None") else 0 for k, v in info.items()}
    info["unet_stage"] = shipped_info.get("unet_stage")
    latent_scale = float(shipped_config()["autoencoder"]["scaling_factor"])
    info["autoencoder_heldout_psnr"] = float(shipped_info["autoencoder_heldout_psnr"]) if shipped_info.get("autoencoder_heldout_psnr") not in (None, "None") else None
    ae_path = os.path.join(RUNS, "autoencoder", "final.pt")
    if os.path.exists(ae_path):
        ae = torch.load(ae_path, map_location="cpu")
        model.autoencoder.load_state_dict(ae["model"])
        info.update(autoencoder_steps=ae["step"], autoencoder_heldout_psnr=ae.get("heldout_psnr"))
    # UNet steps accumulate over training rounds (pose 1550 + expression 810 + video 550 before any round
    # recorded them): each round adds the steps of every stage it ran.
    cumulative = int(shipped_info.get("unet_steps_cumulative", 2910))
    unet_path = os.path.join(RUNS, f"unet-{stage}", "final.pt")
    if os.path.exists(unet_path):
        unet = torch.load(unet_path, map_location="cpu")
        latent_scale = float(unet["latent_scale"])
        for prefix in ("coeff_encoder", "reference_net", "unet"):
            getattr(model, prefix).load_state_dict(part(unet["model"], prefix))
        for s in ("pose", "expression", "video"):
            path = os.path.join(RUNS, f"unet-{s}", "final.pt")
            if os.path.exists(path):
                steps = int(torch.load(path, map_location="cpu")["step"])
                info[f"unet_{s}_steps_this_round"] = steps
                cumulative += steps
        info.update(unet_stage=stage, unet_steps=unet["step"])
    info["unet_steps_cumulative"] = cumulative
    if "estimator" in cfg:
        probe_path = os.path.join(RUNS, "probe", "final.pt")
        if os.path.exists(probe_path):
            probe = torch.load(probe_path, map_location="cpu")
            model.estimator.load_state_dict(probe["model"])
            info["estimator_steps"] = probe["step"]
        elif any(k.startswith("estimator.") for k in fresh):
            raise FileNotFoundError("the shipped model has no estimator and no probe run exists: run train/probe.py")
    audio_path = os.path.join(RUNS, "audio", "final.pt")
    if os.path.exists(audio_path):
        audio = torch.load(audio_path, map_location="cpu")
        model.audio_encoder.load_state_dict(audio["encoder"])
        model.audio2flame.load_state_dict(audio["head"])
        # A new front end starts over: only then do the run's steps not add to the shipped head's.
        fresh_audio = any(k.startswith("audio_encoder.") for k in fresh)
        info["audio_steps"] = audio["step"] + (0 if fresh_audio else info["audio_steps"])
    elif any(k.startswith(("audio_encoder.", "audio2flame.")) for k in fresh):
        raise FileNotFoundError("the config's audio front end differs from the shipped one and no audio run exists: run train/audio.py")
    cfg["autoencoder"]["scaling_factor"] = latent_scale
    model.autoencoder.scaling_factor = latent_scale
    info["latent_scale"] = latent_scale
    return model, cfg, info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", help="UNet stage whose weights to export (default the latest finished)")
    ap.add_argument("--out", default=CANDIDATE)
    ap.add_argument("--guidance", type=float, help="the candidate's default classifier-free guidance "
                    "(scheduler.default_guidance_scale; default that of configs/mini.json)")
    args = ap.parse_args()
    OUT = args.out
    model, cfg, info = assemble(args.stage)
    os.makedirs(OUT, exist_ok=True)
    cfg = dict(cfg, name="flap-mini")
    if args.guidance is not None:
        if not args.guidance >= 1.0:
            raise ValueError(f"--guidance must be a number >= 1 (1 is no guidance), not {args.guidance}")
        cfg["scheduler"] = dict(cfg["scheduler"], default_guidance_scale=args.guidance)
    with open(os.path.join(OUT, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()},
              os.path.join(OUT, "weights.safetensors"),
              {"config": "flap-mini", "format": "FlapModel state dict, f16", **{k: str(v) for k, v in info.items()}})
    # The asset is the shipped one: the guide the model was trained with is drawn from it.
    shutil.copyfile(os.path.join(SHIPPED, "head_asset.safetensors"), os.path.join(OUT, "head_asset.safetensors"))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in ("config.json", "weights.safetensors", "head_asset.safetensors"))
    print(f"{OUT}: {total / 1e6:.1f} MB; {info}")


if __name__ == "__main__":
    main()
