"""ONNX exports (torch's own exporter, opset 17) for kernel benchmarks and for comparing whole graphs against
other runtimes:

  ops    single ops as tiny models with random weights at given shapes, one file each, named by op and shape,
         plus manifest.json (file, op, shape, inputs/outputs with names and shapes, parameter count, FLOPs).
  model  the UNet denoising step (the temporal denoiser, ReferenceNet features as inputs) and the autoencoder
         decoder of a config from the reference, with weights from a safetensors file (or seeded random ones).

  /usr/bin/python3 weights-tools/export_onnx.py ops --out bench/onnx/ops [--op conv2d3x3 --shape n=1,c=320,...]
  /usr/bin/python3 weights-tools/export_onnx.py model --config sd15 --weights flap.safetensors --out bench/onnx/sd15

Shapes are fixed in the graphs (no dynamic axes): the benchmarks time one problem size per file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import torch
from torch import nn
from torch.nn import functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

OPSET = 17


# ---------------------------------------------------------------- single ops

class MatMul(nn.Module):
    def forward(self, a, b):
        return a @ b


def _random_affine(module: nn.Module) -> nn.Module:
    """Norm layers start at weight 1 / bias 0; random ones make a swapped scale and shift visible in tests."""
    with torch.no_grad():
        module.weight.normal_(1.0, 0.5)
        module.bias.normal_(0.0, 0.5)
    return module


class GroupNormSiLU(nn.Module):
    def __init__(self, groups: int, channels: int):
        super().__init__()
        self.norm = _random_affine(nn.GroupNorm(groups, channels, eps=1e-5))

    def forward(self, x):
        return F.silu(self.norm(x))


class Attention(nn.Module):
    """softmax(Q Kᵀ / sqrt(d)) V written out (torch 1.13 has no SDPA), on [B, heads, L, d] tensors."""

    def __init__(self, head_dim: int):
        super().__init__()
        self.scale = 1.0 / math.sqrt(head_dim)  # a constant, not read off the traced shape

    def forward(self, q, k, v):
        scores = q @ k.transpose(-1, -2) * self.scale
        return torch.softmax(scores, dim=-1) @ v


# op → (shape keys, builder(shape) → (module, {input name: shape}), FLOPs(shape))
OPS = {
    "matmul": (("m", "k", "n"),
               lambda s: (MatMul(), {"a": (s["m"], s["k"]), "b": (s["k"], s["n"])}),
               lambda s: 2 * s["m"] * s["k"] * s["n"]),
    "linear": (("m", "k", "n"),
               lambda s: (nn.Linear(s["k"], s["n"]), {"x": (s["m"], s["k"])}),
               lambda s: 2 * s["m"] * s["k"] * s["n"]),
    "conv2d3x3": (("n", "c", "h", "w", "o"),
                  lambda s: (nn.Conv2d(s["c"], s["o"], 3, padding=1), {"x": (s["n"], s["c"], s["h"], s["w"])}),
                  lambda s: 2 * s["n"] * s["o"] * s["h"] * s["w"] * s["c"] * 9),
    "groupnorm_silu": (("n", "c", "h", "w", "g"),
                       lambda s: (GroupNormSiLU(s["g"], s["c"]), {"x": (s["n"], s["c"], s["h"], s["w"])}),
                       lambda s: 10 * s["n"] * s["c"] * s["h"] * s["w"]),
    "attention": (("b", "heads", "l", "s", "d"),
                  lambda s: (Attention(s["d"]), {"q": (s["b"], s["heads"], s["l"], s["d"]),
                                           "k": (s["b"], s["heads"], s["s"], s["d"]),
                                           "v": (s["b"], s["heads"], s["s"], s["d"])}),
                  lambda s: 4 * s["b"] * s["heads"] * s["l"] * s["s"] * s["d"]),
    "layernorm": (("m", "c"),
                  lambda s: (_random_affine(nn.LayerNorm(s["c"], eps=1e-5)), {"x": (s["m"], s["c"])}),
                  lambda s: 8 * s["m"] * s["c"]),
}

# SD-1.5 at 512x512 (64x64 latents) problem sizes: the hot spots of one denoising step.
DEFAULT_SHAPES = {
    "matmul": [dict(m=4096, k=320, n=320), dict(m=1024, k=640, n=640), dict(m=256, k=1280, n=1280)],
    "linear": [dict(m=4096, k=320, n=2560), dict(m=4096, k=1280, n=320), dict(m=1024, k=640, n=5120)],
    "conv2d3x3": [dict(n=1, c=320, h=64, w=64, o=320), dict(n=1, c=640, h=32, w=32, o=640),
                  dict(n=1, c=1280, h=16, w=16, o=1280)],
    "groupnorm_silu": [dict(n=1, c=320, h=64, w=64, g=32), dict(n=1, c=1280, h=16, w=16, g=32)],
    "attention": [dict(b=1, heads=8, l=4096, s=4096, d=40), dict(b=1, heads=8, l=4096, s=12, d=40),
                  dict(b=1, heads=8, l=1024, s=1024, d=80)],
    "layernorm": [dict(m=4096, c=320), dict(m=1024, c=640)],
}


# The benchmark sets of bench/kernels: SD-1.5's hot spots at a 32x32 latent (256x256 images; one image, keys of
# reference-augmented self-attention twice the queries) and the `mini` config's (guidance batch 2 x (8 + 2 motion)
# frames at a 16x16 latent; level 1 has 64 tokens of 96 channels, temporal attention over 10 frames per pixel).
SHAPE_SETS = {
    "sd15": {
        "matmul": [dict(m=1024, k=320, n=320)],
        "linear": [dict(m=1024, k=320, n=2560), dict(m=1024, k=1280, n=320), dict(m=64, k=1280, n=1280)],
        "conv2d3x3": [dict(n=1, c=320, h=32, w=32, o=320), dict(n=1, c=640, h=16, w=16, o=640),
                      dict(n=1, c=1280, h=8, w=8, o=1280)],
        "groupnorm_silu": [dict(n=1, c=320, h=32, w=32, g=32), dict(n=1, c=1280, h=8, w=8, g=32)],
        "attention": [dict(b=1, heads=8, l=1024, s=2048, d=40), dict(b=1, heads=8, l=1024, s=16, d=40),
                      dict(b=1, heads=8, l=256, s=512, d=80)],
        "layernorm": [dict(m=1024, c=320)],
    },
    "mini": {
        "matmul": [dict(m=1280, k=96, n=96)],
        "linear": [dict(m=1280, k=96, n=768), dict(m=1280, k=384, n=96), dict(m=320, k=160, n=160)],
        "conv2d3x3": [dict(n=20, c=48, h=16, w=16, o=48), dict(n=20, c=96, h=8, w=8, o=96),
                      dict(n=20, c=160, h=4, w=4, o=160)],
        "groupnorm_silu": [dict(n=20, c=48, h=16, w=16, g=16), dict(n=20, c=160, h=4, w=4, g=16)],
        "attention": [dict(b=20, heads=4, l=64, s=128, d=24), dict(b=20, heads=4, l=64, s=4, d=24),
                      dict(b=512, heads=4, l=10, s=10, d=12)],
        "layernorm": [dict(m=1280, c=96)],
    },
}


def op_file_name(op: str, shape: dict) -> str:
    keys = OPS[op][0]
    return f"{op}_" + "_".join(f"{k}{shape[k]}" for k in keys) + ".onnx"


def export_op(op: str, shape: dict, out_dir: str, seed: int = 0) -> dict:
    """Exports one op at one shape; returns its manifest entry."""
    keys, build, flops = OPS[op]
    if set(shape) != set(keys):
        raise ValueError(f"{op} takes the shape keys {keys}, got {sorted(shape)}")
    torch.manual_seed(seed)
    module, inputs = build(shape)
    module.eval()
    args = tuple(torch.randn(*s) for s in inputs.values())
    file = op_file_name(op, shape)
    with torch.no_grad():
        out = module(*args)
        torch.onnx.export(module, args, os.path.join(out_dir, file), opset_version=OPSET,
                          input_names=list(inputs), output_names=["y"], do_constant_folding=True)
    return {"file": file, "op": op, "shape": {k: shape[k] for k in keys}, "seed": seed,
            "inputs": [{"name": n, "shape": list(s)} for n, s in inputs.items()],
            "outputs": [{"name": "y", "shape": list(out.shape)}],
            "parameters": sum(p.numel() for p in module.parameters()), "flops": flops(shape)}


def export_ops(out_dir: str, jobs: list[tuple[str, dict]], seed: int = 0, sets: list[str] | None = None) -> dict:
    """`sets` names each job's shape set (written as the entries' `set`)."""
    os.makedirs(out_dir, exist_ok=True)
    entries = [export_op(op, shape, out_dir, seed) for op, shape in jobs]
    for entry, name in zip(entries, sets or []):
        entry["set"] = name
    manifest = {"opset": OPSET, "torch": torch.__version__, "dtype": "float32", "ops": entries}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


# ---------------------------------------------------------------- whole-model parts

class UNetStep(nn.Module):
    """One denoiser evaluation as the generation loop runs it: `frames` frames of one video, the ReferenceNet's
    attn1 features of that video as one input per spatial transformer. A UNet with a geometry guide (config
    `unet.guide`) takes the frames' guide images [frames, 3, S, S] in [0, 1] after the tokens, before the features."""

    def __init__(self, unet, keys: list[str], frames: int):
        super().__init__()
        self.unet, self.keys, self.frames = unet, keys, frames
        self.guided = getattr(unet, "guide_encoder", None) is not None

    def forward(self, sample, timesteps, pose_tokens, expr_tokens, *rest):
        from flap_ref.unet_blocks import Context
        guide, reference = (rest[0], rest[1:]) if self.guided else (None, rest)
        ctx = Context(pose_tokens, expr_tokens, frames=self.frames, reference=dict(zip(self.keys, reference)),
                      guide=guide)
        return self.unet(sample, timesteps, ctx)


class Decode(nn.Module):
    def __init__(self, autoencoder):
        super().__init__()
        self.autoencoder = autoencoder

    def forward(self, z):
        return self.autoencoder.decode(z)


def _load_part(module: nn.Module, tensors: dict, prefix: str):
    """Loads the tensors under `prefix` into `module`, refusing any missing, extra or re-shaped one."""
    part = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    own = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = sorted(set(own) - set(part))
    unexpected = sorted(set(part) - set(own))
    reshaped = sorted(k for k in set(own) & set(part) if tuple(part[k].shape) != own[k])
    if missing or unexpected or reshaped:
        raise KeyError(f"weights under {prefix!r}: {len(missing)} missing (e.g. {missing[:3]}), "
                       f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}), {len(reshaped)} re-shaped "
                       f"(e.g. {reshaped[:3]})")
    module.load_state_dict(part, strict=True)


def reference_input_names(keys: list[str]) -> list[str]:
    return ["ref." + k for k in keys]


def export_model(config: str, out_dir: str, weights: str | None = None, frames: int | None = None,
                 parts=("unet_step", "decoder"), seed: int = 0) -> dict:
    """Exports the UNet step and/or the decoder of a config. Without `weights` the modules keep the reference's
    seeded random initialisation (for graph structure and timing only)."""
    from flap_ref.autoencoder import build_autoencoder
    from flap_ref.config import latent_size, load_config
    from flap_ref.reference_net import ReferenceNet
    from flap_ref.unet import UNet

    cfg = load_config(config)
    os.makedirs(out_dir, exist_ok=True)
    tensors = None
    if weights:
        from flap_ref.safetensors import load_file
        tensors = load_file(weights)
    torch.manual_seed(seed)
    frames = frames or cfg["video"]["frames_per_clip"]
    label = os.path.splitext(os.path.basename(config))[0]  # a config name, or a config file's name without .json
    h, w = latent_size(cfg)
    u, cond = cfg["unet"], cfg["coeff_encoder"]
    entries = []
    gen = torch.Generator().manual_seed(seed)

    if "unet_step" in parts:
        unet = UNet(u, temporal=True).eval()
        ref_net = ReferenceNet(u).eval()
        if tensors is not None:
            _load_part(unet, tensors, "unet.")
            _load_part(ref_net, tensors, "reference_net.")
        latent = torch.randn(1, u["in_channels"], h, w, generator=gen)
        pose = torch.randn(frames, cond["pose_tokens"], cond["token_dim"], generator=gen)
        expr = torch.randn(frames, cond["expr_tokens"], cond["token_dim"], generator=gen) \
            if u["expression_attention"] else None
        # Guide images in [0, 1], as the head renderer draws them (only for configs with a geometry guide).
        guide = torch.rand(frames, 3, u["guide"]["size"], u["guide"]["size"], generator=gen) if "guide" in u else None
        with torch.no_grad():
            # Realistic feature values (and their shapes) for the example inputs come from the ReferenceNet.
            feats = ref_net(latent, pose[:1], None if expr is None else expr[:1],
                            guide=None if guide is None else guide[:1])
        keys = unet.attention_keys()
        step = UNetStep(unet, keys, frames).eval()
        sample = torch.randn(frames, u["in_channels"], h, w, generator=gen)
        timesteps = torch.full((frames,), 500, dtype=torch.long)
        names = ["sample", "timesteps", "pose_tokens"] + (["expr_tokens"] if expr is not None else [])
        args = [sample, timesteps, pose] + ([expr] if expr is not None else [])
        if guide is not None:
            names.append("guide")
            args.append(guide)
        if expr is None:  # keep the positional layout of forward: expr_tokens is None, not an input
            step_fn = _NoExpr(step)
        else:
            step_fn = step
        args += [feats[k] for k in keys]
        names += reference_input_names(keys)
        file = f"unet_step_{label}_f{frames}_{h}x{w}.onnx"
        with torch.no_grad():
            out = step_fn(*args)
            torch.onnx.export(step_fn, tuple(args), os.path.join(out_dir, file), opset_version=OPSET,
                              input_names=names, output_names=["eps"], do_constant_folding=True)
        entries.append({"file": file, "part": "unet_step", "frames": frames,
                        "inputs": [{"name": n, "shape": list(a.shape), "dtype": str(a.dtype).replace("torch.", "")}
                                   for n, a in zip(names, args)],
                        "outputs": [{"name": "eps", "shape": list(out.shape)}],
                        "parameters": sum(p.numel() for p in unet.parameters())})

    if "decoder" in parts:
        ae = build_autoencoder(cfg["autoencoder"]).eval()
        if tensors is not None:
            _load_part(ae, tensors, "autoencoder.")
        decode = Decode(ae).eval()
        z = torch.randn(1, cfg["autoencoder"]["latent_channels"], h, w, generator=gen)
        file = f"decoder_{label}_{h}x{w}.onnx"
        with torch.no_grad():
            out = decode(z)
            torch.onnx.export(decode, (z,), os.path.join(out_dir, file), opset_version=OPSET,
                              input_names=["latent"], output_names=["image"], do_constant_folding=True)
        entries.append({"file": file, "part": "decoder",
                        "inputs": [{"name": "latent", "shape": list(z.shape), "dtype": "float32"}],
                        "outputs": [{"name": "image", "shape": list(out.shape)}],
                        "parameters": sum(p.numel() for p in ae.parameters())})

    manifest = {"opset": OPSET, "torch": torch.__version__, "config": config,
                "weights": os.path.basename(weights) if weights else f"random (seed {seed})", "models": entries}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


class _NoExpr(nn.Module):
    def __init__(self, step: UNetStep):
        super().__init__()
        self.step = step

    def forward(self, sample, timesteps, pose_tokens, *rest):
        return self.step(sample, timesteps, pose_tokens, None, *rest)


# ---------------------------------------------------------------- CLI

def _parse_shape(text: str) -> dict:
    return {k: int(v) for k, v in (item.split("=") for item in text.split(","))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("ops", help="single ops for kernel benchmarks")
    o.add_argument("--out", required=True)
    o.add_argument("--op", choices=sorted(OPS), help="one op (default: every op at its default shapes)")
    o.add_argument("--set", choices=sorted(SHAPE_SETS), action="append",
                   help="a benchmark shape set instead of the defaults (repeatable)")
    o.add_argument("--shape", action="append", help="k=v,... (repeatable; needs --op)")
    o.add_argument("--seed", type=int, default=0)
    m = sub.add_parser("model", help="UNet denoising step and autoencoder decoder of a config")
    m.add_argument("--config", required=True, help="test, mini, sd15 or a path to a config JSON")
    m.add_argument("--weights", help="safetensors file with the whole model (unet., reference_net., autoencoder.)")
    m.add_argument("--out", required=True)
    m.add_argument("--frames", type=int, help="frames per step (default: the config's frames_per_clip)")
    m.add_argument("--parts", default="unet_step,decoder")
    m.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.cmd == "ops":
        if a.shape and not a.op:
            p.error("--shape needs --op")
        if a.set:
            if a.op:
                p.error("--set and --op exclude each other")
            tagged = [(name, op, s) for name in a.set for op, shapes in SHAPE_SETS[name].items() for s in shapes]
            jobs, sets = [(op, s) for _, op, s in tagged], [name for name, _, _ in tagged]
        elif a.op:
            shapes = [_parse_shape(s) for s in a.shape] if a.shape else DEFAULT_SHAPES[a.op]
            jobs = [(a.op, s) for s in shapes]
        else:
            jobs = [(op, s) for op, shapes in DEFAULT_SHAPES.items() for s in shapes]
        man = export_ops(a.out, jobs, a.seed, sets if a.set else None)
        print(f"{len(man['ops'])} graphs and manifest.json in {a.out}")
    else:
        man = export_model(a.config, a.out, a.weights, a.frames, tuple(a.parts.split(",")), a.seed)
        for e in man["models"]:
            print(f"{e['file']}: {e['parameters']:,} parameters")


if __name__ == "__main__":
    main()
