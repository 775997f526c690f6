"""Assembles flap-mini from the training runs into models/flap-mini/: f16 weights (one safetensors file, the
FlapModel names), the config with the measured latent scale, and the head asset.

  /usr/bin/python3 weights-tools/train/export.py [--stage video]
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

OUT = os.path.join(os.path.dirname(TOOLS), "models", "flap-mini")


def assemble(stage: str = "video") -> tuple[FlapModel, dict, dict]:
    """The trained model (float32) and its config; raises if a run is missing."""
    cfg = load_config("mini")
    ae = torch.load(os.path.join(RUNS, "autoencoder", "final.pt"), map_location="cpu")
    unet = torch.load(os.path.join(RUNS, f"unet-{stage}", "final.pt"), map_location="cpu")
    audio_path = os.path.join(RUNS, "audio", "final.pt")
    cfg["autoencoder"]["scaling_factor"] = float(unet["latent_scale"])
    model = FlapModel(cfg).eval()
    model.autoencoder.load_state_dict(ae["model"])
    parts = unet["model"]
    for prefix in ("coeff_encoder", "reference_net", "unet"):
        getattr(model, prefix).load_state_dict({k[len(prefix) + 1:]: v for k, v in parts.items()
                                                if k.startswith(prefix + ".")})
    info = {"autoencoder_steps": ae["step"], "unet_stage": stage, "unet_steps": unet["step"],
            "latent_scale": float(unet["latent_scale"]), "autoencoder_heldout_psnr": ae.get("heldout_psnr")}
    if os.path.exists(audio_path):
        audio = torch.load(audio_path, map_location="cpu")
        model.audio_encoder.load_state_dict(audio["encoder"])
        model.audio2flame.load_state_dict(audio["head"])
        info["audio_steps"] = audio["step"]
    else:
        info["audio_steps"] = 0
    return model, cfg, info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", default="video")
    args = ap.parse_args()
    model, cfg, info = assemble(args.stage)
    os.makedirs(OUT, exist_ok=True)
    cfg = dict(cfg, name="flap-mini")
    with open(os.path.join(OUT, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()},
              os.path.join(OUT, "weights.safetensors"),
              {"config": "flap-mini", "format": "FlapModel state dict, f16", **{k: str(v) for k, v in info.items()}})
    shutil.copyfile(os.path.join(TOOLS, ".data", "head_asset.safetensors"), os.path.join(OUT, "head_asset.safetensors"))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"models/flap-mini: {total / 1e6:.1f} MB; {info}")


if __name__ == "__main__":
    main()
