"""Writes, for the opt-in sd15 test (tests/slow/configs.test.ts), a real-layout sd15 FlapModel file and the
PyTorch reference's outputs on it:

  /usr/bin/python3 tests/slow/make_sd15_case.py --weights /tmp/sd15.safetensors --case /tmp/sd15_case.safetensors

The weights are the reference's own initialisation with every constant parameter (norm scales, zero biases, the
zero-initialised output projections of pose/expression attention and motion modules) perturbed, so no path is
the identity and the test sees all of them; values rounded to f16 and stored f16, and the reference computes in
f32 with exactly those values. Case tensors (NCHW like the other fixtures):
  coeffs [1, 120], reference_latent [1, 4, 8, 8], reference_features.<first key>,
  x [1, 4, 8, 8], timestep [1] (DDIM, 20 steps, the first), eps [2, 4, 8, 8] (cond, then uncond with zero
  tokens), x_prev [1, 4, 8, 8] (guidance 7.5), decode.input [1, 4, 8, 8], decode.output [1, 3, 64, 64].
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "weights-tools"))

from flap_ref.config import load_config  # noqa: E402
from gen_fixtures import build_model  # noqa: E402
from flap_ref.safetensors import save_file, save_streaming  # noqa: E402
from flap_ref.schedulers import Sampler  # noqa: E402
from flap_ref.unet_blocks import Context  # noqa: E402

SEED = 15
GUIDANCE = 7.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--case", required=True)
    args = ap.parse_args()
    t0 = time.time()
    cfg = load_config("sd15")
    model = build_model(cfg, seed=SEED, fan_in=True)
    state = model.state_dict()
    specs = [(name, torch.float16, tuple(v.shape)) for name, v in state.items()]
    size = save_streaming(args.weights, specs, lambda name: state[name].half().contiguous(),
                          {"config": "sd15", "weights": "reference initialisation, constants perturbed", "seed": str(SEED)})
    print(f"{args.weights}: {len(specs)} tensors, {size / 1e9:.2f} GB ({time.time() - t0:.0f} s)")

    g = torch.Generator().manual_seed(SEED + 2)
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        coeffs = torch.randn(1, 120, generator=g) * 0.3
        pose, expr = (t[0] for t in model.coeff_encoder(coeffs[None]))  # [1 frame, K, D]
        latent = torch.randn(1, 4, 8, 8, generator=g)
        features = model.reference_net(latent, pose, expr)
        first = next(iter(features))
        sampler = Sampler("ddim", 20, cfg["scheduler"])
        t = sampler.timesteps[0]
        x = torch.randn(1, 4, 8, 8, generator=g)
        # Unconditioned half: zero tokens, the portrait's features in both (as in flap_ref/pipeline.py).
        ctx = Context(torch.cat([pose, torch.zeros_like(pose)]), torch.cat([expr, torch.zeros_like(expr)]), frames=1,
                      reference=features)
        eps = model.unet(torch.cat([x, x]), torch.full((2,), t, dtype=torch.long), ctx)
        x_prev = sampler.step(x, eps[:1], eps[1:], GUIDANCE)
        z = torch.randn(1, 4, 8, 8, generator=g)
        image = model.autoencoder.decode(z)
        out.update({"coeffs": coeffs, "reference_latent": latent, f"reference_features.{first}": features[first],
                    "x": x, "timestep": torch.tensor([t], dtype=torch.int32), "eps": eps, "x_prev": x_prev,
                    "decode.input": z, "decode.output": image})
    out = {k: v.float().contiguous() if v.is_floating_point() else v.contiguous() for k, v in out.items()}
    save_file(out, args.case, {"config": "sd15", "seed": str(SEED), "guidance_scale": str(GUIDANCE),
                               "generator": "tests/slow/make_sd15_case.py"})
    print(f"{args.case}: reference outputs ({time.time() - t0:.0f} s in all)")


if __name__ == "__main__":
    main()
