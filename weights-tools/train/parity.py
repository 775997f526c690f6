"""Golden outputs of the shipped flap-mini for the TypeScript parity test (tests/models/mini.cases.ts): the
reference pipeline run on models/flap-mini/ exactly as shipped (its f16 weight values, computed in float32), on
the first 0.3 s of tests/fixtures/speech.wav (7 frames: one clip of 8 after its 2 motion frames) and the golden
fixtures' portrait (a neutral head-world render at 128x128), 2 guided DDIM steps, the geometry guides drawn by
flap_ref/guide.py when the config has them. Written to tests/fixtures/mini_generation.safetensors (about 1.5 MB:
frames as F16). Also renders of the shipped head asset for the WebGPU preview's test
(tests/fixtures/head_renders.safetensors) and its geometry guides for the WebGPU guide's test
(tests/fixtures/guide_renders.safetensors; `--guides` writes only these).

  /usr/bin/python3 weights-tools/train/parity.py [--guides]
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)

from flap_ref.pipeline import SamplingOptions, generate  # noqa: E402
from flap_ref.safetensors import save_file  # noqa: E402
from gen_fixtures import portrait, read_wav  # noqa: E402
from shipped import load_model_dir  # noqa: E402

MODEL = os.path.join(ROOT, "models", "flap-mini")
OUT = os.path.join(ROOT, "tests", "fixtures", "mini_generation.safetensors")
HEAD_OUT = os.path.join(ROOT, "tests", "fixtures", "head_renders.safetensors")
GUIDE_OUT = os.path.join(ROOT, "tests", "fixtures", "guide_renders.safetensors")
SECONDS = 0.3
SEED = 11


def head_renders() -> None:
    """Renders of the shipped head asset's identity (world/render.py, 4x supersampled) for the WebGPU preview's
    test (tests/render/head.cases.ts): neutral; yaw 25 degrees with the jaw open; pitch, roll, closed eyes,
    a smile and a sideways gaze."""
    from world.head import HeadModel, sample_identity
    from world.render import Renderer
    meta = {}
    with open(os.path.join(MODEL, "head_asset.safetensors"), "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n)).get("__metadata__", {})
    seed = int(meta["identity_seed"])
    c = pose_set()
    images = Renderer(HeadModel(), sample_identity(seed), size=128, ss=4).render(c)
    save_file({"coeffs": torch.from_numpy(c.astype(np.float32)), "images": torch.from_numpy(images)}, HEAD_OUT,
              {"asset": "models/flap-mini/head_asset.safetensors", "identity_seed": str(seed), "ss": "4",
               "generator": "weights-tools/train/parity.py"})
    print(f"{HEAD_OUT}: {os.path.getsize(HEAD_OUT) / 1e6:.2f} MB")


def pose_set() -> np.ndarray:
    """The poses the head and guide tests draw: neutral; yaw 25 degrees with the jaw open; pitch, roll, closed
    eyes, a smile and a sideways gaze."""
    from world import head as H
    c = H.identity_coeffs(3)
    c[1, 0:3] = H.euler_to_axis_angle(np.radians(25.0), 0.0, 0.0)
    c[1, 15] = 0.35
    c[2, 0:3] = H.euler_to_axis_angle(np.radians(-10.0), np.radians(12.0), np.radians(8.0))
    c[2, 18:20] = 1.0
    c[2, 20] = 1.0
    c[2, 3:9] = H.gaze_to_6d(np.radians(15.0), 0.0)
    c[2, 9:15] = H.gaze_to_6d(np.radians(15.0), 0.0)
    return c


def guide_renders() -> None:
    """Geometry guides (flap_ref/guide.py) of the shipped asset in those poses, channels last, for the
    WebGPU guide's test (tests/render/head.cases.ts)."""
    from flap_ref.config import load_config
    from flap_ref.guide import GuideRenderer
    guide = load_config("mini")["unet"]["guide"]
    c = pose_set()
    guides = GuideRenderer(os.path.join(MODEL, "head_asset.safetensors"), guide).render(c)
    save_file({"coeffs": torch.from_numpy(c.astype(np.float32)), "guides": guides.permute(0, 2, 3, 1).contiguous()},
              GUIDE_OUT, {"asset": "models/flap-mini/head_asset.safetensors", "guide": json.dumps(guide),
                          "generator": "weights-tools/train/parity.py"})
    print(f"{GUIDE_OUT}: {os.path.getsize(GUIDE_OUT) / 1e6:.2f} MB")


def main() -> None:
    torch.set_num_threads(1)
    model, cfg, renderer = load_model_dir(MODEL)
    audio = read_wav(os.path.join(ROOT, "tests", "fixtures", "speech.wav"))[: int(SECONDS * 16000)]
    image, ref_coeffs = portrait(cfg["video"]["height"])
    options = SamplingOptions(sampler="ddim", steps=2, guidance_scale=cfg["scheduler"]["default_guidance_scale"], seed=SEED)
    record: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        generate(model, audio, image, ref_coeffs, options, record=record, renderer=renderer)
    keep = ["coefficients", "reference_latent", "frames"] + [k for k in record if k.startswith("clip")]
    keep += [k for k in ("reference_guide", "unet_guide") if k in record]  # the guides guide.py drew
    out = {"audio": audio, "image": image, "ref_coeffs": ref_coeffs, **{k: record[k] for k in keep}}
    if hasattr(model, "estimator"):
        # The estimator on the portrait and on the clip's first decoded frames (natural units, flap_ref/estimator.py).
        with torch.no_grad():
            out["estimator_input"] = torch.cat([image[None], record["frames"][:3] * 2 - 1])
            out["estimates"] = model.estimator(out["estimator_input"])
    out = {k: v.float().contiguous() for k, v in out.items()}
    out["frames"] = out["frames"].half()
    save_file(out, OUT, {"model": "models/flap-mini", "generator": "weights-tools/train/parity.py", "sampler": "ddim",
                         "steps": "2", "guidance_scale": str(options.guidance_scale), "noise_seed": str(SEED),
                         "torch": torch.__version__})
    print(f"{OUT}: {os.path.getsize(OUT) / 1e6:.2f} MB, {out['frames'].shape[0]} frames")
    head_renders()
    guide_renders()


if __name__ == "__main__":
    if sys.argv[1:] == ["--guides"]:
        guide_renders()
    else:
        main()
