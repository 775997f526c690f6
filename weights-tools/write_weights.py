"""Writes a FlapModel state dict with the reference's own random initialisation, for trying a configuration
end to end without trained weights (the TypeScript side must load any reference-written file):

  /usr/bin/python3 weights-tools/write_weights.py --config mini --out /tmp/mini.safetensors [--dtype f16]
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from flap_ref.config import load_config  # noqa: E402
from flap_ref.model import FlapModel  # noqa: E402
from flap_ref.safetensors import save_file  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="mini")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=("f16", "f32"), default="f16")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    model = FlapModel(load_config(args.config))
    dtype = torch.float16 if args.dtype == "f16" else torch.float32
    tensors = {k: v.to(dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, args.out, {"config": args.config, "weights": "random initialisation", "seed": str(args.seed)})
    print(f"{args.out}: {len(tensors)} tensors, {sum(v.numel() for v in tensors.values()):,} parameters")


if __name__ == "__main__":
    main()
