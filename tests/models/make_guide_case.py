"""Writes tests/fixtures/guide_encoder.safetensors for tests/models/guide_encoder.cases.ts: the geometry guide's
encoder (weights-tools/flap_ref/guide.py) with seeded random weights (F16 values, stored F16; conv_out random too,
not zero, so the test sees it) on two random guides [2, 3, 32, 32] → `output` [2, 24, 8, 8] = encoder(guide) +
`residual` (the UNet's conv_in output). Config (metadata `guide`): 32 px, channels [8, 12, 16].

  /usr/bin/python3 tests/models/make_guide_case.py
"""

from __future__ import annotations

import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "weights-tools"))

from flap_ref.guide import GuideEncoder  # noqa: E402
from flap_ref.safetensors import save_file  # noqa: E402

GUIDE = {"size": 32, "supersample": 2, "channels": [8, 12, 16], "palette": [[0.5, 0.5, 0.5]]}
OUT_CHANNELS = 24


def main() -> None:
    torch.manual_seed(9)
    enc = GuideEncoder(GUIDE, OUT_CHANNELS).eval()
    with torch.no_grad():
        for p in enc.parameters():
            p.copy_((0.2 * torch.randn_like(p)).half().float())
        guide = torch.rand(2, 3, 32, 32)
        residual = torch.randn(2, OUT_CHANNELS, 8, 8)
        out = enc(guide) + residual
    tensors = {f"guide_encoder.{k}": v.half() for k, v in enc.state_dict().items()}
    tensors.update(guide=guide, residual=residual, output=out)
    path = os.path.join(ROOT, "tests", "fixtures", "guide_encoder.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, path,
              {"guide": json.dumps(GUIDE), "out_channels": str(OUT_CHANNELS), "generator": "tests/models/make_guide_case.py"})
    print(f"{path}: {os.path.getsize(path) / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
