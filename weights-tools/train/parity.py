"""Golden outputs of the shipped flap-mini for the TypeScript parity test (tests/models/mini.cases.ts): the
reference pipeline run on models/flap-mini/ exactly as shipped (its f16 weight values, computed in float32), on
the first 0.4 s of tests/fixtures/speech.wav (10 frames: two clips of 8 with motion frames) and the golden
fixtures' portrait (a neutral head-world render at 128x128), 2 guided DDIM steps. Written to tests/fixtures/mini_generation.safetensors (about 1.5 MB: frames as F16).

  /usr/bin/python3 weights-tools/train/parity.py
"""

from __future__ import annotations

import json
import os
import sys

import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)

from flap_ref.config import load_config  # noqa: E402
from flap_ref.model import FlapModel  # noqa: E402
from flap_ref.pipeline import SamplingOptions, generate  # noqa: E402
from flap_ref.safetensors import load_file, save_file  # noqa: E402
from gen_fixtures import portrait, read_wav  # noqa: E402

MODEL = os.path.join(ROOT, "models", "flap-mini")
OUT = os.path.join(ROOT, "tests", "fixtures", "mini_generation.safetensors")
SECONDS = 0.4
SEED = 11


def main() -> None:
    torch.set_num_threads(1)
    with open(os.path.join(MODEL, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    base = load_config("mini")
    assert {k: v for k, v in cfg.items() if k != "name"}.keys() == base.keys()
    model = FlapModel(cfg).eval()
    weights = {k: v.float() for k, v in load_file(os.path.join(MODEL, "weights.safetensors")).items()}
    model.load_state_dict(weights, strict=True)
    audio = read_wav(os.path.join(ROOT, "tests", "fixtures", "speech.wav"))[: int(SECONDS * 16000)]
    image, ref_coeffs = portrait(cfg["video"]["height"])
    options = SamplingOptions(sampler="ddim", steps=2, guidance_scale=cfg["scheduler"]["default_guidance_scale"], seed=SEED)
    record: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        generate(model, audio, image, ref_coeffs, options, record=record)
    keep = ["coefficients", "reference_latent", "frames"] + [k for k in record if k.startswith("clip")]
    out = {"audio": audio, "image": image, "ref_coeffs": ref_coeffs, **{k: record[k] for k in keep}}
    out = {k: v.float().contiguous() for k, v in out.items()}
    out["frames"] = out["frames"].half()
    save_file(out, OUT, {"model": "models/flap-mini", "generator": "weights-tools/train/parity.py", "sampler": "ddim",
                         "steps": "2", "guidance_scale": str(options.guidance_scale), "noise_seed": str(SEED),
                         "torch": torch.__version__})
    print(f"{OUT}: {os.path.getsize(OUT) / 1e6:.2f} MB, {out['frames'].shape[0]} frames")


if __name__ == "__main__":
    main()
