"""Writes tests/fixtures/estimator.safetensors for tests/models/estimator.cases.ts: the estimator (weights-tools/
flap_ref/estimator.py, width 8) with seeded random weights (F16 values, stored F16; GroupNorm affine parameters
away from 1/0) on three random images [3, 3, 128, 128] in [-1, 1] → `estimates` [3, 18] in natural units and
`coefficients` [3, 120] (to_coefficients).

  /usr/bin/python3 tests/models/make_estimator_case.py
"""

from __future__ import annotations

import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "weights-tools"))

from flap_ref.estimator import Estimator, to_coefficients  # noqa: E402
from flap_ref.safetensors import save_file  # noqa: E402

WIDTH = 8


def main() -> None:
    torch.manual_seed(4)
    est = Estimator(WIDTH).eval()
    with torch.no_grad():
        for name, p in est.named_parameters():
            p.add_(0.1 * torch.randn_like(p))
            p.copy_(p.half().float())
        images = torch.rand(3, 3, 128, 128) * 2 - 1
        out = est(images)
    tensors = {f"estimator.{k}": v.half() for k, v in est.state_dict().items()}
    tensors.update(images=images, estimates=out, coefficients=to_coefficients(out))
    path = os.path.join(ROOT, "tests", "fixtures", "estimator.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, {"width": str(WIDTH), "generator": "tests/models/make_estimator_case.py"})
    print(f"{path}: {os.path.getsize(path) / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
