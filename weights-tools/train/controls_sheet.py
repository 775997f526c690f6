"""Writes models/flap-mini/controls.png: what each control does to a held-out portrait. One block of three rows
per control (a yaw sweep −30°..30°, a pitch sweep, a blink, the jaw opening and closing, a smile, a gaze shift):
the generated frames, the geometry guide they were conditioned on (when the model has one) and the world's
ground-truth render of the same coefficients.

  /usr/bin/python3 weights-tools/train/controls_sheet.py [--model models/flap-mini] [--steps 8]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from common import to_unit
from flap_ref.pipeline import SamplingOptions, generate
from shipped import SHIPPED, load_model_dir
from world import head as H
from world.data import load_shard, shard_paths
from world.head import HeadModel, sample_identity
from world.png import write_png
from world.render import Renderer

FRAMES = 8


def rows(ref: np.ndarray) -> dict[str, np.ndarray]:
    """Control name → [FRAMES, 120] coefficients, each starting from the portrait's own."""
    base = np.repeat(ref[None].astype(np.float32), FRAMES, 0)
    ramp = np.linspace(-1, 1, FRAMES)
    out = {}
    for name, axis in (("yaw", 0), ("pitch", 1)):
        c = base.copy()
        angles = np.zeros((FRAMES, 3))
        angles[:, axis] = np.radians(30 * ramp)
        c[:, 0:3] = np.stack([H.euler_to_axis_angle(*a) for a in angles])
        out[f"{name} -30..30"] = c
    c = base.copy()
    c[:, 18:20] = np.array([0, 0.3, 0.8, 1, 1, 0.8, 0.3, 0])[:, None]
    out["blink"] = c
    c = base.copy()
    c[:, 15] = 0.4 * np.sin(np.linspace(0, np.pi, FRAMES))
    out["jaw open/close"] = c
    c = base.copy()
    c[:, 20] = np.linspace(0, 1, FRAMES)
    out["smile"] = c
    c = base.copy()
    gaze = np.stack([H.gaze_to_6d(np.radians(25 * r), 0.0) for r in ramp]).astype(np.float32)
    c[:, 3:9], c[:, 9:15] = gaze, gaze
    out["gaze left..right"] = c
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=SHIPPED)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="default MODEL/controls.png")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, cfg, renderer = load_model_dir(args.model)
    sh = load_shard(shard_paths("heldout")[0])
    ident = 3
    ref_img, ref_c = sh["ref_frame"][ident], sh["ref_coeffs"][ident].astype(np.float32)
    truth_renderer = Renderer(HeadModel(), sample_identity(int(sh["identity_seed"][ident])), ss=sh["meta"]["ss"])
    opts = SamplingOptions("dpmpp_2m", args.steps, cfg["scheduler"]["default_guidance_scale"], seed=3)
    size = cfg["video"]["height"]
    blocks = []
    for name, c in rows(ref_c).items():
        frames, _ = generate(model, None, to_unit(ref_img), torch.from_numpy(ref_c), opts,
                             coeffs=torch.from_numpy(c), renderer=renderer)
        lines = [(frames.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)]
        if renderer is not None:
            g = renderer.render(c).permute(0, 2, 3, 1)
            g = torch.nn.functional.interpolate(g.permute(0, 3, 1, 2), size=(size, size), mode="nearest").permute(0, 2, 3, 1)
            lines.append((g.numpy() * 255 + 0.5).astype(np.uint8))
        lines.append(truth_renderer.render(c))
        blocks.append(np.concatenate([np.concatenate(list(line), 1) for line in lines], 0))
        print(f"{name}: {len(lines)} rows", flush=True)
    gap = np.full((6, blocks[0].shape[1], 3), 255, np.uint8)
    sheet = np.concatenate([x for b in blocks for x in (b, gap)][:-1], 0)
    out = args.out or os.path.join(args.model, "controls.png")
    write_png(out, sheet)
    print(f"{out}: {sheet.shape[1]}x{sheet.shape[0]}; blocks top to bottom: {', '.join(rows(ref_c))}; rows in each: "
          f"generated{', guide' if renderer is not None else ''}, ground truth")


if __name__ == "__main__":
    main()
