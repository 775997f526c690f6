"""Writes tests/fixtures/unet_blocks.safetensors (and unet_names.json, see the end of main): UNet-side modules of the PyTorch reference on their own, at
shapes the whole-model fixtures do not reach (odd and non-square sizes, several frames and videos, distinct
timesteps per item, reference features shared by every frame), for tests/models/blocks.cases.ts.

  /usr/bin/python3 tests/models/make_unet_cases.py

Layout: `<case>.weights.<state-dict name>` (F16 values, stored F16 like test_weights: the reference computes in
float32 with exactly these values), `<case>.<input>` and `<case>.<output>` (F32, NCHW / [B, L, C] as PyTorch
has them). Cases:
  resnet        ResnetBlock2D 24→40 (1x1 shortcut) with a time embedding; x [3, 24, 7, 5], temb [3, 64] → out
  resnet_plain  ResnetBlock2D 16→16 without time embedding; x [2, 16, 6, 6] → out
  transformer   Transformer2DModel (2 heads × 12, cross 20, expression path) with reference tokens [1, 13, 24]
                shared by 6 items; x [6, 24, 5, 3], pose [6, 2, 20], expr [6, 3, 20] → out, normed; and the
                same x as 2 videos of 3 frames with reference_videos [2, 13, 24] → out_videos
  transformer_plain  the same without expression path and reference; x [2, 24, 4, 4], pose [2, 3, 20] → out
  motion        VanillaTemporalModule 24 channels, 2 heads; x [10, 24, 3, 4] as 2 clips of 5 frames → out
  reference_net ReferenceNet of the test config on latent [1, 4, 8, 6] → features.<transformer name>
  unet          the temporal test UNet on sample [3, 4, 8, 6] (one video of 3 frames), timesteps [999, 500, 1],
                the ReferenceNet's features → out and block outputs (intermediates.<block>)
  unet_deep     a 3-level UNet with 2 layers per block, no expression path, no reference (DEEP_UNET below);
                sample [2, 4, 8, 12], timesteps [37, 801], pose [2, 3, 12] → out, intermediates.<block>
"""

from __future__ import annotations

import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "weights-tools"))

from flap_ref.motion_module import VanillaTemporalModule  # noqa: E402
from flap_ref.reference_net import ReferenceNet  # noqa: E402
from flap_ref.resnet import ResnetBlock2D  # noqa: E402
from flap_ref.safetensors import save_file  # noqa: E402
from flap_ref.transformer_2d import Transformer2DModel  # noqa: E402
from flap_ref.unet import UNet  # noqa: E402
from flap_ref.unet_blocks import Context  # noqa: E402

SEED = 5150
# unet_deep: the test config's UNet with these overrides (tests/models/blocks.cases.ts repeats them).
DEEP_UNET = {
    "block_out_channels": [16, 24, 32],
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "layers_per_block": 2,
    "num_attention_heads": 2,
    "cross_attention_dim": 12,
    "norm_num_groups": 4,
    "expression_attention": False,
    "motion_num_attention_heads": 4,
}
OUT = os.path.join(ROOT, "tests", "fixtures", "unet_blocks.safetensors")
NAMES = os.path.join(ROOT, "tests", "fixtures", "unet_names.json")


def randomise(module: torch.nn.Module, g: torch.Generator) -> torch.nn.Module:
    """Gives constant parameters (norm affines, zero-initialised proj_out) small random values so no path is
    hidden, then rounds every weight to float16 (the file stores F16)."""
    module.eval()
    with torch.no_grad():
        for p in module.parameters():
            if p.numel() > 1 and bool((p == p.flatten()[0]).all()):
                scale = 0.1 if p.dim() == 1 else p.shape[-1] ** -0.5
                p.add_(torch.randn(p.shape, generator=g) * scale)
            p.copy_(p.half().float())
    return module


def main() -> None:
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED + 1)
    rand = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    out: dict[str, torch.Tensor] = {}

    def put(case: str, module: torch.nn.Module | None, **tensors: torch.Tensor) -> None:
        if module is not None:
            for k, v in module.state_dict().items():
                out[f"{case}.weights.{k}"] = v.half()
        for k, v in tensors.items():
            out[f"{case}.{k}"] = v.float().contiguous()

    with torch.no_grad():
        m = randomise(ResnetBlock2D(24, 40, 64, groups=8, eps=1e-5), g)
        x, temb = rand(3, 24, 7, 5), rand(3, 64)
        put("resnet", m, x=x, temb=temb, out=m(x, temb))

        m = randomise(ResnetBlock2D(16, 16, None, groups=4, eps=1e-6), g)
        x = rand(2, 16, 6, 6)
        put("resnet_plain", m, x=x, out=m(x))

        m = randomise(Transformer2DModel(2, 12, 24, 20, 4, True), g)
        x, pose, expr, ref = rand(6, 24, 5, 3), rand(6, 2, 20), rand(6, 3, 20), rand(1, 13, 24)
        y, normed = m(x, pose, expr, ref.repeat_interleave(6, dim=0))
        put("transformer", m, x=x, pose=pose, expr=expr, reference=ref, out=y, normed=normed)
        # Two videos of 3 frames, each with its own portrait tokens (repeated per frame, as run_attention does).
        ref2 = rand(2, 13, 24)
        y2, _ = m(x, pose, expr, ref2.repeat_interleave(3, dim=0))
        put("transformer", None, reference_videos=ref2, out_videos=y2)

        m = randomise(Transformer2DModel(2, 12, 24, 20, 4, False), g)
        x, pose = rand(2, 24, 4, 4), rand(2, 3, 20)
        y, _ = m(x, pose, None, None)
        put("transformer_plain", m, x=x, pose=pose, out=y)

        m = randomise(VanillaTemporalModule(24, 2, 4, 32), g)
        x = rand(10, 24, 3, 4)
        put("motion", m, x=x, frames=torch.tensor([5.0]), out=m(x, 5))

        with open(os.path.join(ROOT, "weights-tools", "configs", "test.json")) as f:
            unet_cfg = json.load(f)["unet"]
        k, d = unet_cfg["cross_attention_dim"], 2
        ref_net = randomise(ReferenceNet(unet_cfg), g)
        latent, ref_pose, ref_expr = rand(1, 4, 8, 6), rand(1, d, k), rand(1, d, k)
        features = ref_net(latent, ref_pose, ref_expr)
        put("reference_net", ref_net, latent=latent, pose=ref_pose, expr=ref_expr,
            **{f"features.{n}": v for n, v in features.items()})

        unet = randomise(UNet(unet_cfg, temporal=True), g)
        frames = 3
        sample, pose, expr = rand(frames, 4, 8, 6), rand(frames, d, k), rand(frames, d, k)
        timesteps = torch.tensor([999, 500, 1])
        inter: dict[str, torch.Tensor] = {}
        y = unet(sample, timesteps, Context(pose, expr, frames=frames, reference=features, intermediates=inter))
        put("unet", unet, sample=sample, timesteps=timesteps, pose=pose, expr=expr, out=y,
            **{f"intermediates.{n}": v for n, v in inter.items()})

        # Two layers per block and three levels (the test and mini configs have one layer per block), no
        # expression path, no reference: skip bookkeeping of sd15-like blocks at a tiny width.
        deep_cfg = {**unet_cfg, **DEEP_UNET}
        deep = randomise(UNet(deep_cfg, temporal=True), g)
        sample, pose = rand(2, 4, 8, 12), rand(2, 3, 12)
        timesteps = torch.tensor([37, 801])
        inter = {}
        y = deep(sample, timesteps, Context(pose, None, frames=2, intermediates=inter))
        put("unet_deep", deep, sample=sample, timesteps=timesteps, pose=pose, out=y,
            **{f"intermediates.{n}": v for n, v in inter.items()})

    save_file(out, OUT, {"generator": "tests/models/make_unet_cases.py", "seed": str(SEED),
                         "torch": torch.__version__})
    print(f"{OUT}: {len(out)} tensors, {os.path.getsize(OUT)} bytes")

    # Parameter names and shapes of the mini and test UNets (denoiser and ReferenceNet), for the TypeScript
    # module trees to match name for name (tests/models/unet_config.test.ts). sd15 is too big to build here;
    # that test checks it by its known SD-1.5 parameter count instead.
    names = {}
    for cfg_name in ("test", "mini"):
        with open(os.path.join(ROOT, "weights-tools", "configs", f"{cfg_name}.json")) as f:
            cfg = json.load(f)["unet"]
        names[cfg_name] = {
            "unet": [[k, list(v.shape)] for k, v in UNet(cfg, temporal=True).state_dict().items()],
            "reference_net": [[k, list(v.shape)] for k, v in ReferenceNet(cfg).state_dict().items()],
        }
    with open(NAMES, "w") as f:
        json.dump(names, f, separators=(",", ":"))
    print(f"{NAMES}: {os.path.getsize(NAMES)} bytes")


if __name__ == "__main__":
    main()
