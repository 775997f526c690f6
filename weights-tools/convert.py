"""Converts public checkpoints into one FlapModel weights file (DESIGN §2, README "Converting real checkpoints"):

  /usr/bin/python3 weights-tools/convert.py --sd SD --motion-module MM --wav2vec2 W2V --out DIR
      [--config sd15] [--dtype f16|f32] [--shard-size 2GB] [--seed 0] [--fresh PART,...] [--trust-pickle]

  SD   a diffusers Stable Diffusion 1.5 folder (unet/ and vae/, each a diffusion_pytorch_model .safetensors or
       .bin, fp16 variant or sharded index, and its config.json) or a single-file checkpoint with the original
       LDM (CompVis) names (`model.diffusion_model.…`, `first_stage_model.…`; .safetensors, .ckpt, .pt, .pth)
  MM   an AnimateDiff motion-module file (mm_sd_v15.ckpt, mm_sd_v15_v2.ckpt, v3_sd15_mm.ckpt; names as released)
  W2V  a Hugging Face wav2vec2 checkpoint (folder with config.json, or the file itself): Wav2Vec2Model names, or
       Wav2Vec2ForPreTraining / ForCTC ones (`wav2vec2.` prefix; their heads are dropped)

Writes DIR/weights.safetensors (or, with --shard-size, DIR/weights-0000k-of-0000n.safetensors and
DIR/weights.safetensors.index.json, the layout src/weights/sharded.ts reads) and DIR/config.json (the config).

Every tensor of the target model (FlapModel(config), built on the meta device) comes from exactly one place:
  unet.*              the SD UNet (renamed from LDM names when the file has them), the AnimateDiff motion modules
                      (`pos_encoder.pe` dropped: this project computes those tables), and FLAP's additions;
  reference_net.*     a copy of the denoising UNet's 2-D part (FLAP's ReferenceNet starts as the UNet);
  autoencoder.*       the SD VAE;  audio_encoder.*  wav2vec2;
  FLAP-only parts     (coeff_encoder, audio2flame, each block's attn_expr/norm_expr, guide encoders, estimator,
                      the mid-block motion module when the AnimateDiff file has none) get the reference's own
                      initialisation (the modules' constructors / reset_parameters, seeded by --seed) and are
                      named in the file's metadata (`initialised`).
Source names that map nowhere and are not a known part to drop (text encoder, EMA copy, pretraining heads, noise
schedule buffers, …), target names nothing provides, and shape mismatches are errors that list every name.
`--fresh motion_modules` / `--fresh audio_encoder` initialise a part instead of reading it (no file for it).
.bin/.ckpt files are pickles: they are read with torch.load(weights_only=True); --trust-pickle lifts that guard
for old checkpoints that pickle other objects (only for files you trust).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from flap_ref.config import load_config  # noqa: E402
from flap_ref.model import FlapModel  # noqa: E402
from flap_ref.safetensors import SafetensorsError, SafetensorsFile, save_streaming  # noqa: E402


class ConversionError(ValueError):
    pass


def _listing(title: str, names) -> str:
    names = sorted(names)
    return f"{title} ({len(names)}):\n  " + "\n  ".join(names)


# ------------------------------------------------------------------------------------------- reading sources

class Tensors:
    """A checkpoint's tensor table: `names`, `shape(name)`, `tensor(name)`. Safetensors files (and sharded indexes)
    are read tensor by tensor; pickles are loaded whole."""

    def __init__(self, path: str, trust_pickle: bool = False):
        self.path = path
        self._files: list[SafetensorsFile] = []
        self._where: dict[str, SafetensorsFile] = {}
        self._dict: dict[str, torch.Tensor] | None = None
        if path.endswith(".index.json"):
            with open(path, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
            opened: dict[str, SafetensorsFile] = {}
            for name, file in weight_map.items():
                if file not in opened:
                    opened[file] = SafetensorsFile(os.path.join(os.path.dirname(path), file))
                self._where[name] = opened[file]
            self._files = list(opened.values())
        elif path.endswith(".safetensors"):
            f = SafetensorsFile(path)
            self._files = [f]
            self._where = {n: f for n in f.names}
        else:
            self._dict = _load_pickle(path, trust_pickle)

    @property
    def names(self) -> list[str]:
        return list(self._dict) if self._dict is not None else list(self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._dict[name].shape) if self._dict is not None else self._where[name].shape(name)

    def tensor(self, name: str) -> torch.Tensor:
        return self._dict[name] if self._dict is not None else self._where[name].tensor(name)

    def close(self) -> None:
        for f in self._files:
            f.close()


def _load_pickle(path: str, trust: bool) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as e:  # the weights-only unpickler names the global it refused
        if trust:
            raise
        raise ConversionError(f"{path}: torch.load(weights_only=True) refused it ({e}); if you trust this file, "
                              f"rerun with --trust-pickle") from None
    # Lightning / LDM checkpoints and some AnimateDiff files wrap the weights in "state_dict".
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ConversionError(f"{path}: holds a {type(obj).__name__}, not a dict of tensors")
    out = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    others = sorted(k for k, v in obj.items() if not isinstance(v, torch.Tensor))
    if others:
        raise ConversionError(_listing(f"{path}: entries that are not tensors", others))
    return out


WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json",
                "diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.bin",
                "diffusion_pytorch_model.bin.index.json", "diffusion_pytorch_model.fp16.bin",
                "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def _weights_in(folder: str) -> str:
    for name in WEIGHT_FILES:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            if name.endswith(".bin.index.json"):
                raise ConversionError(f"{path}: sharded .bin checkpoints are not read; convert the shards to "
                                      f"safetensors or merge them")
            return path
    raise ConversionError(f"{folder}: no weights file (looked for {', '.join(WEIGHT_FILES)})")


def _read_json(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _check_config(where: str, theirs: dict | None, pairs: list[tuple[str, object]]) -> None:
    """Fields of a source's config.json that must equal ours (a file for another model fails here, by name)."""
    if theirs is None:
        return
    wrong = [f"{k}: theirs {theirs[k]!r}, ours {v!r}" for k, v in pairs if k in theirs and _plain(theirs[k]) != _plain(v)]
    if wrong:
        raise ConversionError(_listing(f"{where} does not describe this config's model", wrong))


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


# ------------------------------------------------------------------------------------------- name tables

def _prefix_rename(name: str, table: dict[str, str]) -> str | None:
    """Rewrites the longest module prefix of `name` found in `table`; None when no prefix is known."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in table:
            return ".".join([table[head]] + parts[cut:])
    return None


LDM_RESBLOCK = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
                "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}


def ldm_unet_table(unet: dict) -> dict[str, str]:
    """LDM `openaimodel.UNetModel` module paths → diffusers `UNet2DConditionModel` ones, from the block structure:
    input_blocks.0 is conv_in; level i, layer j is input_blocks.(1 + i(L+1) + j) = [ResBlock, SpatialTransformer];
    input_blocks.((i+1)(L+1)) holds level i's downsampler (`op`); middle_block = [ResBlock, SpatialTransformer,
    ResBlock]; up level i, layer j is output_blocks.(i(L+1) + j), its last layer also holding the upsampler after
    the transformer; out = [GroupNorm, SiLU, conv]. Transformers have the same inner names in both."""
    widths, L = unet["block_out_channels"], unet["layers_per_block"]
    table = {"time_embed.0": "time_embedding.linear_1", "time_embed.2": "time_embedding.linear_2",
             "input_blocks.0.0": "conv_in", "out.0": "conv_norm_out", "out.2": "conv_out"}

    def resblock(ldm: str, ours: str):
        table[ldm] = ours
        for a, b in LDM_RESBLOCK.items():
            table[f"{ldm}.{a}"] = f"{ours}.{b}"

    for i, kind in enumerate(unet["down_block_types"]):
        for j in range(L):
            k = 1 + i * (L + 1) + j
            resblock(f"input_blocks.{k}.0", f"down_blocks.{i}.resnets.{j}")
            if kind.startswith("CrossAttn"):
                table[f"input_blocks.{k}.1"] = f"down_blocks.{i}.attentions.{j}"
        if i < len(widths) - 1:
            table[f"input_blocks.{(i + 1) * (L + 1)}.0.op"] = f"down_blocks.{i}.downsamplers.0.conv"
    resblock("middle_block.0", "mid_block.resnets.0")
    table["middle_block.1"] = "mid_block.attentions.0"
    resblock("middle_block.2", "mid_block.resnets.1")
    for i, kind in enumerate(unet["up_block_types"]):
        cross = kind.startswith("CrossAttn")
        for j in range(L + 1):
            k = i * (L + 1) + j
            resblock(f"output_blocks.{k}.0", f"up_blocks.{i}.resnets.{j}")
            if cross:
                table[f"output_blocks.{k}.1"] = f"up_blocks.{i}.attentions.{j}"
            if j == L and i < len(widths) - 1:
                table[f"output_blocks.{k}.{2 if cross else 1}.conv"] = f"up_blocks.{i}.upsamplers.0.conv"
    return table


VAE_ATTENTION = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}


def ldm_vae_table(ae: dict) -> dict[str, str]:
    """LDM `Encoder`/`Decoder` module paths → diffusers `AutoencoderKL` ones. The decoder's `up` list is indexed
    from the highest resolution, diffusers' `up_blocks` from the lowest: up.(n-1-i) is up_blocks.i. ResNet blocks
    keep norm1/conv1/norm2/conv2 and rename nin_shortcut; the mid attention's 1x1 convs become linears."""
    n, L = len(ae["block_out_channels"]), ae["layers_per_block"]
    table = {"quant_conv": "quant_conv", "post_quant_conv": "post_quant_conv"}

    def resblock(ldm: str, ours: str):
        table[ldm] = ours
        table[f"{ldm}.nin_shortcut"] = f"{ours}.conv_shortcut"

    for part in ("encoder", "decoder"):
        for a in ("conv_in", "conv_out"):
            table[f"{part}.{a}"] = f"{part}.{a}"
        table[f"{part}.norm_out"] = f"{part}.conv_norm_out"
        resblock(f"{part}.mid.block_1", f"{part}.mid_block.resnets.0")
        resblock(f"{part}.mid.block_2", f"{part}.mid_block.resnets.1")
        for a, b in VAE_ATTENTION.items():
            table[f"{part}.mid.attn_1.{a}"] = f"{part}.mid_block.attentions.0.{b}"
    for i in range(n):
        for j in range(L):
            resblock(f"encoder.down.{i}.block.{j}", f"encoder.down_blocks.{i}.resnets.{j}")
        if i < n - 1:
            table[f"encoder.down.{i}.downsample.conv"] = f"encoder.down_blocks.{i}.downsamplers.0.conv"
    for i in range(n):
        for j in range(L + 1):
            resblock(f"decoder.up.{n - 1 - i}.block.{j}", f"decoder.up_blocks.{i}.resnets.{j}")
        if i < n - 1:
            table[f"decoder.up.{n - 1 - i}.upsample.conv"] = f"decoder.up_blocks.{i}.upsamplers.0.conv"
    return table


# Diffusers wrote the VAE's mid-block attention as `query/key/value/proj_attn` before it became an `Attention`
# (the runwayml SD-1.5 folder still has those names); diffusers renames them when it loads, and so do we.
DIFFUSERS_VAE_LEGACY = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}
_VAE_LEGACY = re.compile(r"^(.*\.mid_block\.attentions\.0)\.(query|key|value|proj_attn)\.(weight|bias)$")

# Parts of public files that a FlapModel has no place for, dropped by name (and counted in the metadata).
LDM_DROP = {
    "cond_stage_model.": "the CLIP text encoder (FLAP conditions on coefficients, not text)",
    "model_ema.": "the EMA copy of the UNet (the checkpoint's model.diffusion_model weights are converted)",
    "first_stage_model.loss.": "the autoencoder's training loss (LPIPS, discriminator)",
}
LDM_SCHEDULE = {"betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
                "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
                "posterior_mean_coef1", "posterior_mean_coef2", "logvar"}
WAV2VEC2_DROP = {
    "quantizer.": "wav2vec2 pretraining head (quantizer)",
    "project_q.": "wav2vec2 pretraining head (project_q)",
    "project_hid.": "wav2vec2 pretraining head (project_hid)",
    "lm_head.": "wav2vec2 CTC head (lm_head)",
}
# The reference's own init of lone parameters of a module that is otherwise converted (flap_ref/audio_encoder.py):
# SpecAugment's mask vector, unused at inference and absent from many fine-tuned wav2vec2 files.
LONE_INIT = {"audio_encoder.masked_spec_embed": lambda t: t.uniform_()}


# ------------------------------------------------------------------------------------------- the plan

@dataclass
class Plan:
    target: dict[str, tuple[int, ...]]                    # every tensor of the model, in state-dict order
    reads: dict[str, tuple] = field(default_factory=dict)  # name → (Tensors, source name, squeeze?)
    copies: dict[str, str] = field(default_factory=dict)   # name → name it copies
    fresh: set[str] = field(default_factory=set)           # names the reference initialises
    dropped: dict[str, int] = field(default_factory=dict)  # reason → tensors
    sources: dict[str, dict] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    def take(self, name: str, src: Tensors, src_name: str, squeeze: bool = False) -> None:
        if name not in self.target:
            self.unknown.append(f"{src.path}: {src_name}" + (f" (→ {name})" if name != src_name else ""))
            return
        if name in self.reads:
            raise ConversionError(f"{name} comes from two places: {self.reads[name][1]} and {src_name} ({src.path})")
        self.reads[name] = (src, src_name, squeeze)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


def plan_sd(plan: Plan, path: str, cfg: dict, trust: bool) -> list[Tensors]:
    if os.path.isdir(path):
        unet = Tensors(_weights_in(os.path.join(path, "unet")), trust)
        vae = Tensors(_weights_in(os.path.join(path, "vae")), trust)
        u, a = cfg["unet"], cfg["autoencoder"]
        _check_config(os.path.join(path, "unet", "config.json"), _read_json(os.path.join(path, "unet", "config.json")), [
            ("in_channels", u["in_channels"]), ("out_channels", u["out_channels"]),
            ("block_out_channels", u["block_out_channels"]), ("layers_per_block", u["layers_per_block"]),
            ("down_block_types", u["down_block_types"]), ("up_block_types", u["up_block_types"]),
            ("cross_attention_dim", u["cross_attention_dim"]), ("norm_num_groups", u["norm_num_groups"]),
            # SD-1.5's config calls the head count attention_head_dim (diffusers passes it as the head count)
            ("attention_head_dim", u["num_attention_heads"])])
        _check_config(os.path.join(path, "vae", "config.json"), _read_json(os.path.join(path, "vae", "config.json")), [
            ("in_channels", a["in_channels"]), ("out_channels", a["out_channels"]),
            ("latent_channels", a["latent_channels"]), ("block_out_channels", a["block_out_channels"]),
            ("layers_per_block", a["layers_per_block"]), ("norm_num_groups", a["norm_num_groups"])])
        for name in unet.names:
            plan.take("unet." + name, unet, name)
        for name in vae.names:
            m = _VAE_LEGACY.match(name)
            ours = f"{m[1]}.{DIFFUSERS_VAE_LEGACY[m[2]]}.{m[3]}" if m else name
            plan.take("autoencoder." + ours, vae, name)
        plan.sources["sd"] = {"path": os.path.basename(os.path.normpath(path)), "layout": "diffusers",
                              "unet": os.path.basename(unet.path), "vae": os.path.basename(vae.path)}
        files = [unet, vae]
    else:
        src = Tensors(path, trust)
        unet_table, vae_table = ldm_unet_table(cfg["unet"]), ldm_vae_table(cfg["autoencoder"])
        for name in src.names:
            reason = next((why for p, why in LDM_DROP.items() if name.startswith(p)), None)
            if reason is not None or name in LDM_SCHEDULE:
                plan.drop(reason or "the DDPM noise schedule buffers (this project computes them)")
            elif name.startswith("model.diffusion_model."):
                ours = _prefix_rename(name[len("model.diffusion_model."):], unet_table)
                if ours is None:
                    plan.unknown.append(f"{path}: {name}")
                else:
                    plan.take("unet." + ours, src, name)
            elif name.startswith("first_stage_model."):
                ours = _prefix_rename(name[len("first_stage_model."):], vae_table)
                if ours is None:
                    plan.unknown.append(f"{path}: {name}")
                    continue
                squeeze = ".mid.attn_1." in name and name.endswith(".weight") and ".attn_1.norm." not in name
                plan.take("autoencoder." + ours, src, name, squeeze)
            else:
                plan.unknown.append(f"{path}: {name}")
        plan.sources["sd"] = {"path": os.path.basename(path), "layout": "ldm"}
        files = [src]
    # FLAP's ReferenceNet starts as a copy of the denoising UNet's 2-D part (also of the UNet's FLAP-only layers).
    for name in plan.target:
        if name.startswith("reference_net."):
            plan.copies[name] = "unet." + name[len("reference_net."):]
    return files


MOTION = re.compile(r"^(down_blocks\.\d+|up_blocks\.\d+|mid_block)\.motion_modules\.\d+\.temporal_transformer\.")


def plan_motion(plan: Plan, path: str, trust: bool) -> Tensors:
    src = Tensors(path, trust)
    for name in src.names:
        if not MOTION.match(name):
            plan.unknown.append(f"{path}: {name}")
        elif name.endswith(".pos_encoder.pe"):
            plan.drop("AnimateDiff's temporal position tables (pos_encoder.pe; computed here)")
        else:
            plan.take("unet." + name, src, name)
    has_mid = any(n.startswith("mid_block.") for n in src.names)
    tables = {src.shape(n)[1] for n in src.names if n.endswith(".pos_encoder.pe")}
    # v1 (mm_sd_v15): no mid-block module, 24-frame tables; v2: mid block, 32; v3 (v3_sd15_mm): no mid block, 32.
    layout = "v2" if has_mid else ("v3" if tables == {32} else "v1")
    plan.sources["motion_module"] = {"path": os.path.basename(path), "layout": f"AnimateDiff {layout}",
                                     "position_table": sorted(tables)}
    if not has_mid:
        # A module that is not there computes nothing; a zero-initialised one is the identity: the same network.
        plan.fresh |= {n for n in plan.target if n.startswith("unet.mid_block.motion_modules.")}
    return src


def plan_wav2vec2(plan: Plan, path: str, cfg: dict, trust: bool) -> Tensors:
    if os.path.isdir(path):
        a = cfg["audio_encoder"]
        _check_config(os.path.join(path, "config.json"), _read_json(os.path.join(path, "config.json")), [
            (k, a[k]) for k in ("conv_dim", "conv_kernel", "conv_stride", "conv_bias", "feat_extract_norm",
                                "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                                "num_conv_pos_embeddings", "num_conv_pos_embedding_groups")])
        src = Tensors(_weights_in(path), trust)
    else:
        src = Tensors(path, trust)
    for name in src.names:
        reason = next((why for p, why in WAV2VEC2_DROP.items() if name.startswith(p)), None)
        if reason is not None:
            plan.drop(reason)
            continue
        ours = name[len("wav2vec2."):] if name.startswith("wav2vec2.") else name
        # torch's parametrized weight norm (recent transformers) stores weight_g / weight_v as original0 / 1
        ours = ours.replace(".parametrizations.weight.original0", ".weight_g")
        ours = ours.replace(".parametrizations.weight.original1", ".weight_v")
        plan.take("audio_encoder." + ours, src, name)
    plan.sources["wav2vec2"] = {"path": os.path.basename(os.path.normpath(path))}
    return src


def is_flap_only(name: str) -> bool:
    """Parts of FlapModel that no public checkpoint has: FLAP's heads and its layers inside the UNets."""
    return (name.startswith(("coeff_encoder.", "audio2flame.", "estimator.", "preview_autoencoder."))
            or ".attn_expr." in name or ".norm_expr." in name or ".guide_encoder." in name
            or name.startswith(("unet.guide_encoder.", "reference_net.guide_encoder.")))


# ------------------------------------------------------------------------------------------- building the target

class _OnMeta(TorchFunctionMode):
    """Builds modules with shapes only (torch 1.13 has no `with torch.device("meta")`); the weight norm of the
    wav2vec2 positional conv has no meta kernel, so its recomputation is skipped (the weight is derived anyway)."""

    FACTORIES = {torch.empty, torch.zeros, torch.ones, torch.randn, torch.rand, torch.full, torch.tensor}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is torch._weight_norm:
            return torch.empty(args[0].shape, device="meta")
        if func in self.FACTORIES:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def meta_model(cfg: dict) -> FlapModel:
    with _OnMeta():
        return FlapModel(cfg)


def initialise(model: FlapModel, names: set[str], seed: int) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Values for `names` with the reference's initialisation: each largest module whose tensors are all in `names`
    is made real (`to_empty`) and re-initialised bottom-up by `reset_parameters` (torch's layers, and the
    reference's modules that zero their output), which is what their constructors do; lone parameters use
    LONE_INIT. A module with parameters of its own but no reset_parameters is an error, never garbage.
    Returns the values and the paths of the modules (and lone tensors) initialised."""
    torch.manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    done: list[str] = []
    entries = {n: m for n, m in model.named_modules()}
    left = set(names)
    for path, module in entries.items():          # pre-order: a parent comes before its children
        if not path or not left:
            continue
        own = [f"{path}.{k}" for k in module.state_dict()]
        if not own or not all(n in left for n in own):
            continue
        module.to_empty(device="cpu")
        for sub in reversed(list(module.modules())):   # children first, so a parent's own zeroing wins
            if hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
            elif any(True for _ in sub.parameters(recurse=False)):
                raise ConversionError(f"{path}: {type(sub).__name__} has parameters but no reset_parameters; "
                                      f"the converter cannot initialise it")
        for k, v in module.state_dict().items():
            out[f"{path}.{k}"] = v.detach().clone()
        left -= set(own)
        done.append(path)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    for name in sorted(left):
        if name not in LONE_INIT:
            raise ConversionError(f"{name}: no initialisation known for it alone")
        out[name] = LONE_INIT[name](torch.empty(shapes[name]))
        done.append(name)
    return out, done


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*", text, re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 2GB, 500MB)")
    unit = (m[2] or "B").upper()
    scale = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}[unit]
    return int(float(m[1]) * scale)


def convert(sd: str | None, motion: str | None, wav2vec2: str | None, out: str, config: str = "sd15",
            dtype: torch.dtype = torch.float16, shard_size: int | None = None, seed: int = 0,
            fresh_parts: tuple[str, ...] = (), trust_pickle: bool = False) -> dict:
    """Converts and writes; returns the metadata written (see the module docstring)."""
    cfg = load_config(config)
    model = meta_model(cfg)
    target = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    plan = Plan(target)
    opened: list[Tensors] = []
    try:
        for part in fresh_parts:
            if part not in ("motion_modules", "audio_encoder"):
                raise ConversionError(f"--fresh {part}: only motion_modules and audio_encoder can be initialised")
        if sd is None:
            raise ConversionError("--sd is required: the UNet and the VAE come from a Stable Diffusion checkpoint")
        opened += plan_sd(plan, sd, cfg, trust_pickle)
        if motion is not None:
            opened.append(plan_motion(plan, motion, trust_pickle))
        elif "motion_modules" in fresh_parts:
            plan.fresh |= {n for n in target if ".motion_modules." in n}
        else:
            raise ConversionError("--motion-module is required (or --fresh motion_modules to initialise them)")
        if wav2vec2 is not None:
            opened.append(plan_wav2vec2(plan, wav2vec2, cfg, trust_pickle))
        elif "audio_encoder" in fresh_parts:
            plan.fresh |= {n for n in target if n.startswith("audio_encoder.")}
        else:
            raise ConversionError("--wav2vec2 is required (or --fresh audio_encoder to initialise it)")

        if plan.unknown:
            raise ConversionError(_listing("names in the source files that map to no tensor of the model",
                                           plan.unknown))
        provided = set(plan.reads) | set(plan.fresh)
        unet_flap = {n for n in target if n.startswith("unet.") and is_flap_only(n) and n not in provided}
        plan.fresh |= unet_flap
        for name, src_name in plan.copies.items():
            if src_name not in target:  # the ReferenceNet has nothing the UNet lacks; if it ever does, say so
                raise ConversionError(f"{name}: the ReferenceNet copies the UNet, which has no {src_name}")
        lone = {n for n in target if n in LONE_INIT and n not in plan.reads}
        plan.fresh |= lone | {n for n in target if is_flap_only(n) and not n.startswith(("unet.", "reference_net."))
                              and n not in plan.reads}
        missing = [n for n in target if n not in plan.reads and n not in plan.fresh and n not in plan.copies]
        if missing:
            raise ConversionError(_listing("tensors of the model that no source provides", missing))
        bad = []
        for name, (src, src_name, squeeze) in plan.reads.items():
            shape = src.shape(src_name)
            if squeeze and len(shape) == 4 and shape[2:] == (1, 1):
                shape = shape[:2]
            if shape != target[name]:
                bad.append(f"{name} ← {src_name}: {shape}, the model has {target[name]}")
        if bad:
            raise ConversionError(_listing("shape mismatches", bad))

        init, initialised = initialise(model, plan.fresh, seed)

        def produce(name: str) -> torch.Tensor:
            if name in plan.copies:
                name = plan.copies[name]
            if name in init:
                return init[name].to(dtype).contiguous()
            src, src_name, squeeze = plan.reads[name]
            t = src.tensor(src_name)
            if squeeze:
                t = t.reshape(target[name])
            return t.to(dtype).contiguous()

        metadata = {
            "format": "flap", "config": cfg.get("name", os.path.basename(config)), "dtype": str(dtype).split(".")[-1],
            "converter": "weights-tools/convert.py", "seed": str(seed),
            "sources": json.dumps(plan.sources, sort_keys=True),
            "initialised": json.dumps(initialised),
            "copied": json.dumps({"reference_net": "unet (its 2-D part, FLAP-only layers included)"}),
            "dropped": json.dumps(plan.dropped, sort_keys=True),
        }
        write(out, cfg, [(n, dtype, target[n]) for n in target], produce, metadata, shard_size)
        return metadata
    finally:
        for t in opened:
            t.close()


def write(out: str, cfg: dict, specs, produce, metadata: dict, shard_size: int | None) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    size = lambda s: torch.empty((), dtype=s[1]).element_size() * math.prod(s[2])  # noqa: E731
    if shard_size is None:
        save_streaming(os.path.join(out, "weights.safetensors"), specs, produce, metadata)
        return
    shards: list[list] = [[]]
    used = 0
    for spec in specs:
        if shards[-1] and used + size(spec) > shard_size:
            shards.append([])
            used = 0
        shards[-1].append(spec)
        used += size(spec)
    files = [f"weights-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    total = 0
    for file, part in zip(files, shards):
        total += save_streaming(os.path.join(out, file), part, produce, metadata)
    index = {"metadata": {"total_size": total, **metadata},
             "weight_map": {name: file for file, part in zip(files, shards) for name, _, _ in part}}
    with open(os.path.join(out, "weights.safetensors.index.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__[__doc__.index("\n"):])
    ap.add_argument("--sd", required=True, help="diffusers SD-1.5 folder or single-file LDM checkpoint")
    ap.add_argument("--motion-module", help="AnimateDiff motion-module file")
    ap.add_argument("--wav2vec2", help="Hugging Face wav2vec2 folder or file")
    ap.add_argument("--out", required=True, help="output folder (weights + config.json)")
    ap.add_argument("--config", default="sd15", help="config name or path (default sd15)")
    ap.add_argument("--dtype", choices=("f16", "f32"), default="f16")
    ap.add_argument("--shard-size", type=parse_size, help="largest shard, e.g. 2GB (default: one file)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the FLAP-only parts' initialisation")
    ap.add_argument("--fresh", default="", help="comma-separated parts to initialise instead of reading: "
                    "motion_modules, audio_encoder")
    ap.add_argument("--trust-pickle", action="store_true", help="allow .ckpt/.bin files that pickle other objects")
    args = ap.parse_args()
    try:
        meta = convert(args.sd, args.motion_module, args.wav2vec2, args.out, args.config,
                       torch.float16 if args.dtype == "f16" else torch.float32, args.shard_size, args.seed,
                       tuple(p for p in args.fresh.split(",") if p), args.trust_pickle)
    except (ConversionError, SafetensorsError) as e:
        raise SystemExit(f"convert.py: {e}")
    print(f"{args.out}: converted; initialised {len(json.loads(meta['initialised']))} FLAP-only modules; "
          f"dropped {json.loads(meta['dropped'])}")


if __name__ == "__main__":
    main()
