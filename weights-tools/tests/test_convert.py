"""convert.py: public checkpoint layouts → one FlapModel file.

Names are checked at full size against lists of the published files (reference_names/: the SD-1.5 UNet and
wav2vec2-base lists, the LDM key names of a single-file SD-1.5 checkpoint, the AnimateDiff v2 motion modules);
values are checked by round trips: small files are built in every source layout from the reference (a config
whose parameter names are exactly sd15's, with tiny widths), converted, and every tensor must land under the
right name with its value (f16-rounded), the FLAP-only parts initialised as the reference initialises them.
The LDM-layout test file is written through the converter's own LDM table (inverted); that table is checked
separately: its names against the literal key list of the real checkpoint, its pairing against tensor shapes
derived from the original LDM architecture (a block paired with the wrong level or layer changes shape)."""

from __future__ import annotations

import copy
import json
import math
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "reference_names"))

import convert  # noqa: E402
from flap_ref.config import load_config  # noqa: E402
from flap_ref.model import FlapModel  # noqa: E402
from flap_ref.safetensors import load_file, read_metadata, save_file  # noqa: E402
from make_lists import ANIMATEDIFF_V2, animatediff, read_list  # noqa: E402

LISTS = os.path.join(ROOT, "reference_names")


def tiny_sd15() -> dict:
    """sd15 with tiny widths and every count that shapes a name (blocks, layers, heads' existence, 12 wav2vec2
    layers, 7 convs) unchanged, so its parameter names are exactly sd15's."""
    cfg = copy.deepcopy(load_config("sd15"))
    cfg["name"] = "sd15-tiny"
    cfg["audio_encoder"].update(conv_dim=[8] * 7, hidden_size=16, num_attention_heads=2, intermediate_size=24,
                                num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    cfg["audio2flame"].update(input_dim=16, hidden_size=16, num_heads=2, intermediate_size=24)
    cfg["coeff_encoder"].update(hidden_size=16, pose_tokens=2, expr_tokens=2, token_dim=16)
    cfg["unet"].update(block_out_channels=[16, 32, 64, 64], cross_attention_dim=16, norm_num_groups=4)
    cfg["autoencoder"].update(block_out_channels=[8, 16, 32, 32], norm_num_groups=4)
    return cfg


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(config path, config, reference model with every tensor random — zero-initialised ones too)."""
    cfg = tiny_sd15()
    path = tmp_path_factory.mktemp("cfg") / "sd15-tiny.json"
    path.write_text(json.dumps(cfg))
    torch.manual_seed(1)
    model = FlapModel(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    return str(path), cfg, {k: v.detach().clone() for k, v in model.state_dict().items()}


def sd_unet_part(state: dict) -> dict:
    """The reference denoiser's tensors that SD-1.5's UNet has (no motion modules, no expression attention)."""
    return {k[5:]: v for k, v in state.items() if k.startswith("unet.") and not convert.is_flap_only(k)
            and ".motion_modules." not in k}


def motion_part(state: dict, table: int, mid: bool = True) -> dict:
    out = {}
    for k, v in state.items():
        if ".motion_modules." in k and k.startswith("unet.") and (mid or not k.startswith("unet.mid_block.")):
            out[k[5:]] = v
    for k in [k for k in out if k.endswith("attention_blocks.0.to_q.weight") or k.endswith("attention_blocks.1.to_q.weight")]:
        c = out[k].shape[0]
        out[k.replace("to_q.weight", "pos_encoder.pe")] = torch.randn(1, table, c)
    return out


def audio_part(state: dict) -> dict:
    return {k[len("audio_encoder."):]: v for k, v in state.items() if k.startswith("audio_encoder.")}


def vae_part(state: dict) -> dict:
    return {k[len("autoencoder."):]: v for k, v in state.items() if k.startswith("autoencoder.")}


def check_round_trip(out_dir: str, state: dict, expect_fresh: set[str], shards: bool = False) -> dict:
    """Every tensor of the output equals the reference's (through f16) unless it is one the converter initialises;
    the ReferenceNet equals the UNet's 2-D part; the file loads strictly into the model."""
    if shards:
        with open(os.path.join(out_dir, "weights.safetensors.index.json")) as f:
            index = json.load(f)
        got = {}
        for file in sorted(set(index["weight_map"].values())):
            got.update(load_file(os.path.join(out_dir, file)))
        assert set(got) == set(index["weight_map"])
        data = sum(os.path.getsize(os.path.join(out_dir, f)) for f in set(index["weight_map"].values()))
        assert index["metadata"]["total_size"] < data  # tensor bytes only, headers excluded
        meta = {k: v for k, v in index["metadata"].items() if k != "total_size"}
    else:
        got = load_file(os.path.join(out_dir, "weights.safetensors"))
        meta = read_metadata(os.path.join(out_dir, "weights.safetensors"))
    assert list(got) == list(state), "the output follows the model's state-dict order"
    assert all(t.dtype == torch.float16 for t in got.values())
    fresh = {k for k in state if any(k == m or k.startswith(m + ".") for m in json.loads(meta["initialised"]))}
    fresh_ref = {k for k in fresh if k.startswith("reference_net.")}
    assert fresh - fresh_ref == expect_fresh
    for k, v in state.items():
        if k.startswith("reference_net."):
            assert torch.equal(got[k], got["unet." + k[len("reference_net."):]]), k
        elif k not in fresh:
            assert torch.equal(got[k], v.half()), k
    model = FlapModel(json.load(open(os.path.join(out_dir, "config.json"))))
    model.load_state_dict({k: v.float() for k, v in got.items()}, strict=True)
    return {"meta": meta, "got": got}


def flap_only(state: dict) -> set[str]:
    return {k for k in state if convert.is_flap_only(k) and not k.startswith("reference_net.")}


# ------------------------------------------------------------------------------------ names at full size

def test_tiny_config_has_exactly_sd15_names(tiny):
    _, cfg, state = tiny
    full = convert.meta_model(load_config("sd15")).state_dict()
    assert list(full) == list(state)


def test_ldm_key_list_maps_onto_the_sd15_model():
    # The literal key list of a single-file SD-1.5 checkpoint: each name maps to a distinct tensor, and together
    # they are exactly the SD-1.5 UNet list and our AutoencoderKL at sd15 size.
    names = [line.strip() for line in open(os.path.join(LISTS, "sd15_ldm.txt")) if not line.startswith("#")]
    cfg = load_config("sd15")
    unet_t, vae_t = convert.ldm_unet_table(cfg["unet"]), convert.ldm_vae_table(cfg["autoencoder"])
    unet = [convert._prefix_rename(n[len("model.diffusion_model."):], unet_t)
            for n in names if n.startswith("model.diffusion_model.")]
    vae = [convert._prefix_rename(n[len("first_stage_model."):], vae_t)
           for n in names if n.startswith("first_stage_model.")]
    assert len(unet) + len(vae) == len(names) == 686 + 248
    assert None not in unet and None not in vae
    assert len(set(unet)) == len(unet) and set(unet) == set(read_list(os.path.join(LISTS, "sd15_unet.txt")))
    ours = {k[len("autoencoder."):] for k in convert.meta_model(cfg).state_dict() if k.startswith("autoencoder.")}
    assert len(set(vae)) == len(vae) and set(vae) == ours


def ldm_sd15_shapes() -> dict[str, tuple[int, ...]]:
    """Shapes of the LDM checkpoint's UNet and VAE tensors, derived from the original architecture (CompVis
    ldm/modules/diffusionmodules/openaimodel.py UNetModel and model.py Encoder/Decoder with SD-1.5's v1-inference
    settings: model_channels 320, channel_mult 1,2,4,4, 2 res blocks, attention at the first three levels, context
    768; VAE ch 128, ch_mult 1,2,4,4, 2 res blocks, z 4). Independent of the converter's table, so a block paired with
    the wrong level shows up as a shape mismatch."""
    out: dict[str, tuple[int, ...]] = {}

    def add(name, *shape):
        out[name] = shape

    def gn(p, c):
        add(f"{p}.weight", c), add(f"{p}.bias", c)

    def conv(p, cout, cin, k):
        add(f"{p}.weight", cout, cin, k, k), add(f"{p}.bias", cout)

    def res(p, cin, cout):  # ResBlock: in_layers [GN, SiLU, conv], emb_layers [SiLU, Linear], out_layers [GN, SiLU, Dropout, conv]
        gn(f"{p}.in_layers.0", cin), conv(f"{p}.in_layers.2", cout, cin, 3)
        add(f"{p}.emb_layers.1.weight", cout, 1280), add(f"{p}.emb_layers.1.bias", cout)
        gn(f"{p}.out_layers.0", cout), conv(f"{p}.out_layers.3", cout, cout, 3)
        if cin != cout:
            conv(f"{p}.skip_connection", cout, cin, 1)

    def st(p, c):  # SpatialTransformer, one BasicTransformerBlock, conv projections
        gn(f"{p}.norm", c), conv(f"{p}.proj_in", c, c, 1), conv(f"{p}.proj_out", c, c, 1)
        b = f"{p}.transformer_blocks.0"
        for a, ctx in (("attn1", c), ("attn2", 768)):
            add(f"{b}.{a}.to_q.weight", c, c), add(f"{b}.{a}.to_k.weight", c, ctx), add(f"{b}.{a}.to_v.weight", c, ctx)
            add(f"{b}.{a}.to_out.0.weight", c, c), add(f"{b}.{a}.to_out.0.bias", c)
        add(f"{b}.ff.net.0.proj.weight", 8 * c, c), add(f"{b}.ff.net.0.proj.bias", 8 * c)
        add(f"{b}.ff.net.2.weight", c, 4 * c), add(f"{b}.ff.net.2.bias", c)
        for n in ("norm1", "norm2", "norm3"):
            gn(f"{b}.{n}", c)

    u = "model.diffusion_model"
    add(f"{u}.time_embed.0.weight", 1280, 320), add(f"{u}.time_embed.0.bias", 1280)
    add(f"{u}.time_embed.2.weight", 1280, 1280), add(f"{u}.time_embed.2.bias", 1280)
    conv(f"{u}.input_blocks.0.0", 320, 4, 3)
    mult, attn, ch, k, chans = (1, 2, 4, 4), (True, True, True, False), 320, 1, [320]
    for level, m in enumerate(mult):
        for _ in range(2):
            res(f"{u}.input_blocks.{k}.0", ch, 320 * m)
            ch = 320 * m
            if attn[level]:
                st(f"{u}.input_blocks.{k}.1", ch)
            chans.append(ch)
            k += 1
        if level != len(mult) - 1:
            conv(f"{u}.input_blocks.{k}.0.op", ch, ch, 3)
            chans.append(ch)
            k += 1
    res(f"{u}.middle_block.0", ch, ch), st(f"{u}.middle_block.1", ch), res(f"{u}.middle_block.2", ch, ch)
    k = 0
    for level, m in list(enumerate(mult))[::-1]:
        for i in range(3):
            res(f"{u}.output_blocks.{k}.0", ch + chans.pop(), 320 * m)
            ch = 320 * m
            if attn[level]:
                st(f"{u}.output_blocks.{k}.1", ch)
            if level and i == 2:
                conv(f"{u}.output_blocks.{k}.{2 if attn[level] else 1}.conv", ch, ch, 3)
            k += 1
    gn(f"{u}.out.0", 320), conv(f"{u}.out.2", 4, 320, 3)

    def vres(p, cin, cout):  # the VAE's ResnetBlock (no time embedding)
        gn(f"{p}.norm1", cin), conv(f"{p}.conv1", cout, cin, 3), gn(f"{p}.norm2", cout), conv(f"{p}.conv2", cout, cout, 3)
        if cin != cout:
            conv(f"{p}.nin_shortcut", cout, cin, 1)

    def mid(p, c):
        vres(f"{p}.block_1", c, c), vres(f"{p}.block_2", c, c), gn(f"{p}.attn_1.norm", c)
        for n in ("q", "k", "v", "proj_out"):
            conv(f"{p}.attn_1.{n}", c, c, 1)

    e, d, vm = "first_stage_model.encoder", "first_stage_model.decoder", (1, 2, 4, 4)
    conv(f"{e}.conv_in", 128, 3, 3)
    cin = 128
    for i, m in enumerate(vm):
        for j in range(2):
            vres(f"{e}.down.{i}.block.{j}", cin, 128 * m)
            cin = 128 * m
        if i != len(vm) - 1:
            conv(f"{e}.down.{i}.downsample.conv", cin, cin, 3)
    mid(f"{e}.mid", cin), gn(f"{e}.norm_out", cin), conv(f"{e}.conv_out", 8, cin, 3)
    conv(f"{d}.conv_in", 512, 4, 3), mid(f"{d}.mid", 512)
    cin = 512
    for i in reversed(range(len(vm))):      # built from the lowest resolution, stored at index i (up.insert(0, …))
        for j in range(3):
            vres(f"{d}.up.{i}.block.{j}", cin, 128 * vm[i])
            cin = 128 * vm[i]
        if i != 0:
            conv(f"{d}.up.{i}.upsample.conv", cin, cin, 3)
    gn(f"{d}.norm_out", 128), conv(f"{d}.conv_out", 3, 128, 3)
    conv("first_stage_model.quant_conv", 8, 8, 1), conv("first_stage_model.post_quant_conv", 4, 4, 1)
    return out


def test_ldm_names_map_onto_tensors_of_the_same_shape():
    shapes = ldm_sd15_shapes()
    listed = [line.strip() for line in open(os.path.join(LISTS, "sd15_ldm.txt")) if not line.startswith("#")]
    assert set(shapes) == set(listed), "the architecture-derived names are the real checkpoint's"
    cfg = load_config("sd15")
    ours = {k: tuple(v.shape) for k, v in convert.meta_model(cfg).state_dict().items()}
    unet_t, vae_t = convert.ldm_unet_table(cfg["unet"]), convert.ldm_vae_table(cfg["autoencoder"])
    wrong = []
    for name, shape in shapes.items():
        if name.startswith("model.diffusion_model."):
            target = "unet." + convert._prefix_rename(name[len("model.diffusion_model."):], unet_t)
        else:
            target = "autoencoder." + convert._prefix_rename(name[len("first_stage_model."):], vae_t)
            if ".attn_1." in name and len(shape) == 4:
                shape = shape[:2]
        if ours[target] != shape:
            wrong.append(f"{name} {shape} → {target} {ours[target]}")
    assert not wrong, wrong[:10]


def test_animatediff_v2_list_is_current_and_fits_the_denoiser():
    listed = read_list(os.path.join(LISTS, "animatediff_mm_sd_v15_v2.txt"))
    assert listed == {k: s for k, s in animatediff(ANIMATEDIFF_V2).items}
    ours = {k[len("unet."):]: tuple(v.shape) for k, v in convert.meta_model(load_config("sd15")).state_dict().items()
            if k.startswith("unet.") and ".motion_modules." in k}
    stored = {k: s for k, s in listed.items() if not k.endswith(".pos_encoder.pe")}
    assert stored == ours
    assert len(listed) - len(stored) == 42 and all(s[:2] == (1, 32) for k, s in listed.items() if k not in stored)


# ------------------------------------------------------------------------------------ round trips

def test_diffusers_folder_animatediff_v2_and_wav2vec2_pretraining(tiny, tmp_path):
    cfg_path, cfg, state = tiny
    sd = tmp_path / "sd"
    (sd / "unet").mkdir(parents=True)
    (sd / "vae").mkdir()
    save_file(sd_unet_part(state), str(sd / "unet" / "diffusion_pytorch_model.safetensors"))
    (sd / "unet" / "config.json").write_text(json.dumps({
        "_class_name": "UNet2DConditionModel", "attention_head_dim": 8, "cross_attention_dim": 16,
        "block_out_channels": [16, 32, 64, 64], "layers_per_block": 2}))
    # The VAE as a pickle with diffusers' old attention names (query/key/value/proj_attn), f16 like fp16 variants.
    legacy = {}
    for k, v in vae_part(state).items():
        for new, old in (("to_q", "query"), ("to_k", "key"), ("to_v", "value"), ("to_out.0", "proj_attn")):
            k = k.replace(f"attentions.0.{new}.", f"attentions.0.{old}.")
        legacy[k] = v.half()
    assert any(".query." in k for k in legacy)
    torch.save(legacy, str(sd / "vae" / "diffusion_pytorch_model.bin"))
    torch.save({"state_dict": motion_part(state, 32)}, str(tmp_path / "mm_sd_v15_v2.ckpt"))
    w2v = {"wav2vec2." + k: v for k, v in audio_part(state).items()}
    w2v.update({"quantizer.codevectors": torch.randn(1, 6, 4), "quantizer.weight_proj.weight": torch.randn(6, 8),
                "quantizer.weight_proj.bias": torch.randn(6), "project_q.weight": torch.randn(4, 4),
                "project_q.bias": torch.randn(4), "project_hid.weight": torch.randn(4, 16), "project_hid.bias": torch.randn(4)})
    (tmp_path / "w2v").mkdir()
    torch.save(w2v, str(tmp_path / "w2v" / "pytorch_model.bin"))
    (tmp_path / "w2v" / "config.json").write_text(json.dumps({"hidden_size": 16, "num_hidden_layers": 12}))
    out = tmp_path / "out"
    convert.convert(str(sd), str(tmp_path / "mm_sd_v15_v2.ckpt"), str(tmp_path / "w2v"), str(out), cfg_path)
    r = check_round_trip(str(out), state, flap_only(state))
    meta = r["meta"]
    assert json.loads(meta["sources"])["sd"]["layout"] == "diffusers"
    assert json.loads(meta["sources"])["motion_module"]["layout"] == "AnimateDiff v2"
    dropped = json.loads(meta["dropped"])
    assert dropped["AnimateDiff's temporal position tables (pos_encoder.pe; computed here)"] == 42
    assert sum(v for k, v in dropped.items() if "wav2vec2" in k) == 7
    initialised = json.loads(meta["initialised"])
    assert "coeff_encoder" in initialised and "audio2flame" in initialised
    assert "unet.mid_block.attentions.0.transformer_blocks.0.attn_expr" in initialised
    # FLAP-only parts carry the reference's own initialisation: LayerNorms at one/zero, linears in the default range.
    got = r["got"]
    assert torch.all(got["unet.mid_block.attentions.0.transformer_blocks.0.norm_expr.weight"] == 1)
    w = got["coeff_encoder.pose_mlp.0.weight"].float()
    assert 0 < w.abs().max() <= 1 / math.sqrt(3) + 1e-3  # kaiming-uniform bound of a 3-input Linear
    assert json.load(open(out / "config.json")) == cfg


def test_ldm_single_file_animatediff_v1_and_parametrized_wav2vec2(tiny, tmp_path):
    cfg_path, cfg, state = tiny
    unet_t, vae_t = convert.ldm_unet_table(cfg["unet"]), convert.ldm_vae_table(cfg["autoencoder"])
    inverse = lambda table: {v: k for k, v in table.items()}  # noqa: E731

    def to_ldm(name, table):
        parts = name.split(".")
        inv = inverse(table)
        for cut in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:cut])
            if head in inv:
                return ".".join([inv[head]] + parts[cut:])
        raise KeyError(name)

    ldm = {"model.diffusion_model." + to_ldm(k, unet_t): v for k, v in sd_unet_part(state).items()}
    for k, v in vae_part(state).items():
        name = "first_stage_model." + to_ldm(k, vae_t)
        is_attn = ".mid.attn_1." in name and name.endswith(".weight") and ".norm." not in name
        ldm[name] = v[:, :, None, None] if is_attn else v
    listed = [line.strip() for line in open(os.path.join(LISTS, "sd15_ldm.txt")) if not line.startswith("#")]
    assert set(ldm) == set(listed), "the test file has exactly the real checkpoint's UNet and VAE names"
    ldm.update({"cond_stage_model.transformer.text_model.embeddings.position_ids": torch.zeros(1, 77),
                "betas": torch.rand(1000), "alphas_cumprod": torch.rand(1000),
                "model_ema.decay": torch.tensor(0.9999), "model_ema.num_updates": torch.tensor(0)})
    save_file(ldm, str(tmp_path / "v1-5.safetensors"))
    # AnimateDiff v1: no mid-block module, 24-frame position tables.
    save_file(motion_part(state, 24, mid=False), str(tmp_path / "mm_sd_v15.safetensors"))
    # wav2vec2 saved by recent transformers: parametrized weight norm, no masked_spec_embed.
    w2v = {}
    for k, v in audio_part(state).items():
        if k == "masked_spec_embed":
            continue
        k = k.replace("conv.weight_g", "conv.parametrizations.weight.original0")
        w2v[k.replace("conv.weight_v", "conv.parametrizations.weight.original1")] = v
    save_file(w2v, str(tmp_path / "w2v.safetensors"))
    out = tmp_path / "out"
    convert.convert(str(tmp_path / "v1-5.safetensors"), str(tmp_path / "mm_sd_v15.safetensors"),
                    str(tmp_path / "w2v.safetensors"), str(out), cfg_path, shard_size=200_000)
    mid = {k for k in state if k.startswith("unet.mid_block.motion_modules.")}
    r = check_round_trip(str(out), state, flap_only(state) | mid | {"audio_encoder.masked_spec_embed"}, shards=True)
    assert len(set(json.load(open(out / "weights.safetensors.index.json"))["weight_map"].values())) > 1
    got = r["got"]
    # The missing mid-block module is a fresh one: zero output projection, so the identity, as in AnimateDiff v1.
    assert torch.all(got["unet.mid_block.motion_modules.0.temporal_transformer.proj_out.weight"] == 0)
    assert got["unet.mid_block.motion_modules.0.temporal_transformer.proj_in.weight"].abs().max() > 0
    meta = r["meta"]
    assert json.loads(meta["sources"])["motion_module"]["layout"] == "AnimateDiff v1"
    assert "unet.mid_block.motion_modules" in json.loads(meta["initialised"])
    dropped = json.loads(meta["dropped"])
    assert sum(dropped.values()) == 40 + 5  # 40 position tables, text encoder, 2 schedule buffers, 2 EMA entries


# ------------------------------------------------------------------------------------ errors name the tensors

@pytest.fixture()
def layouts(tiny, tmp_path):
    cfg_path, cfg, state = tiny
    unet, vae = sd_unet_part(state), vae_part(state)
    motion, audio = motion_part(state, 32), audio_part(state)

    def run(unet=unet, vae=vae, motion=motion, audio=audio):
        sd = tmp_path / "sd"
        for sub, part in (("unet", unet), ("vae", vae)):
            (sd / sub).mkdir(parents=True, exist_ok=True)
            save_file(part, str(sd / sub / "diffusion_pytorch_model.safetensors"))
        save_file(motion, str(tmp_path / "mm.safetensors"))
        save_file(audio, str(tmp_path / "w2v.safetensors"))
        return convert.convert(str(sd), str(tmp_path / "mm.safetensors"), str(tmp_path / "w2v.safetensors"),
                               str(tmp_path / "out"), cfg_path)

    return run, unet, vae, motion, audio


def test_unknown_names_are_listed(layouts):
    run, unet, vae, motion, audio = layouts
    extra = dict(unet, **{"down_blocks.0.resnets.0.lora_up.weight": torch.zeros(2, 2)})
    with pytest.raises(convert.ConversionError, match=r"map to no tensor of the model \(1\):\n.*lora_up"):
        run(unet=extra)
    junk = dict(motion, **{"down_blocks.0.motion_modules.0.temporal_transformer.extra.weight": torch.zeros(2)})
    with pytest.raises(convert.ConversionError, match=r"temporal_transformer\.extra\.weight"):
        run(motion=junk)


def test_missing_names_are_listed(layouts):
    run, unet, vae, motion, audio = layouts
    gone = {k: v for k, v in unet.items() if not k.startswith("up_blocks.3.resnets.2.")}
    with pytest.raises(convert.ConversionError, match=r"no source provides \(12\):\n  unet\.up_blocks\.3\.resnets\.2\.conv1\.bias"):
        run(unet=gone)
    gone = {k: v for k, v in motion.items() if "up_blocks.1.motion_modules.2." not in k}
    with pytest.raises(convert.ConversionError, match=r"unet\.up_blocks\.1\.motion_modules\.2\.temporal_transformer"):
        run(motion=gone)


def test_shape_mismatches_are_listed(layouts):
    run, unet, vae, motion, audio = layouts
    wrong = dict(audio, **{"encoder.layers.3.attention.q_proj.weight": torch.zeros(16, 8)})
    with pytest.raises(convert.ConversionError, match=r"shape mismatches \(1\):\n  audio_encoder\.encoder\.layers\.3"
                                                      r"\.attention\.q_proj\.weight ← .*\(16, 8\), the model has \(16, 16\)"):
        run(audio=wrong)


def test_a_config_json_of_another_model_is_refused(layouts, tmp_path):
    run, *_ = layouts
    (tmp_path / "sd" / "unet").mkdir(parents=True)
    (tmp_path / "sd" / "unet" / "config.json").write_text(json.dumps({"block_out_channels": [320, 640, 1280, 1280]}))
    with pytest.raises(convert.ConversionError, match=r"block_out_channels: theirs \[320, 640, 1280, 1280\]"):
        run()


def test_a_part_without_a_file_is_initialised_only_when_asked(tiny, tmp_path):
    cfg_path, cfg, state = tiny
    sd = tmp_path / "sd"
    for sub, part in (("unet", sd_unet_part(state)), ("vae", vae_part(state))):
        (sd / sub).mkdir(parents=True)
        save_file(part, str(sd / sub / "diffusion_pytorch_model.safetensors"))
    save_file(audio_part(state), str(tmp_path / "w2v.safetensors"))
    with pytest.raises(convert.ConversionError, match="--motion-module is required"):
        convert.convert(str(sd), None, str(tmp_path / "w2v.safetensors"), str(tmp_path / "out"), cfg_path)
    meta = convert.convert(str(sd), None, str(tmp_path / "w2v.safetensors"), str(tmp_path / "out"), cfg_path,
                           fresh_parts=("motion_modules",))
    motion = {k for k in state if ".motion_modules." in k}
    check_round_trip(str(tmp_path / "out"), state, flap_only(state) | motion)
    got = load_file(str(tmp_path / "out" / "weights.safetensors"))
    assert all(torch.all(v == 0) for k, v in got.items() if ".motion_modules." in k and ".proj_out." in k)
    assert json.loads(meta["sources"]).keys() == {"sd", "wav2vec2"}
