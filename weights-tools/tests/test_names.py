"""The reference's parameter names and shapes against the checked-in lists of the public checkpoints
(reference_names/, written by make_lists.py from the diffusers / transformers sources): real SD-1.5 UNet and
wav2vec2-base weights must load into the reference with no missing, extra or re-shaped tensor."""

import math
import os
import sys

import pytest
import torch
from torch.overrides import TorchFunctionMode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "reference_names"))

from make_lists import SD15_UNET, SD15_UNET_TOTAL, WAV2VEC2_BASE, read_list, sd_unet, wav2vec2  # noqa: E402

LISTS = os.path.join(ROOT, "reference_names")


class _OnMeta(TorchFunctionMode):
    """Creates every factory tensor on the meta device: the 860 M-parameter UNet is built in well under a second
    with shapes only (torch 1.13 has no `with torch.device("meta")`)."""

    FACTORIES = {torch.empty, torch.zeros, torch.ones, torch.randn, torch.rand, torch.full, torch.tensor}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in self.FACTORIES:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def _shapes(module) -> dict:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _compare(ours: dict, public: dict, what: str):
    missing = sorted(set(public) - set(ours))
    extra = sorted(set(ours) - set(public))
    reshaped = sorted(f"{k}: ours {ours[k]} vs {public[k]}" for k in set(ours) & set(public) if ours[k] != public[k])
    assert not (missing or extra or reshaped), (
        f"{what}: {len(missing)} missing, {len(extra)} extra, {len(reshaped)} re-shaped\n"
        f"missing: {missing[:20]}\nextra: {extra[:20]}\nre-shaped: {reshaped[:20]}")


def _reference(module_name: str, attr: str):
    # Fails (not skips) while the reference module is absent, naming what is missing.
    try:
        mod = __import__(f"flap_ref.{module_name}", fromlist=[attr])
    except ImportError as e:
        pytest.fail(f"the reference lacks flap_ref/{module_name}.py ({e})")
    if not hasattr(mod, attr):
        pytest.fail(f"flap_ref/{module_name}.py has no {attr}")
    return getattr(mod, attr)


@pytest.mark.parametrize("file,builder,cfg", [
    ("sd15_unet.txt", sd_unet, SD15_UNET), ("wav2vec2_base.txt", wav2vec2, WAV2VEC2_BASE)])
def test_lists_are_current(file, builder, cfg):
    # The checked-in file is what make_lists.py derives now (nobody edited one without the other).
    derived = {k: s for k, s in builder(cfg).items}
    assert read_list(os.path.join(LISTS, file)) == derived


def test_published_totals():
    unet = read_list(os.path.join(LISTS, "sd15_unet.txt"))
    assert len(unet) == 686
    assert sum(math.prod(s) for s in unet.values()) == SD15_UNET_TOTAL
    w2v = read_list(os.path.join(LISTS, "wav2vec2_base.txt"))
    # Wav2Vec2Model (facebook/wav2vec2-base): 94.37 M, masked_spec_embed included.
    assert len(w2v) == 211
    assert sum(math.prod(s) for s in w2v.values()) == 94_371_712


def test_sd15_unet_names_and_shapes():
    UNet = _reference("unet", "UNet")
    load_config = _reference("config", "load_config")
    cfg = load_config("sd15")["unet"]
    # Our config spells SD-1.5's `attention_head_dim: 8` by its meaning, the head count.
    assert cfg["num_attention_heads"] == SD15_UNET["attention_head_dim"]
    for key in ("in_channels", "out_channels", "block_out_channels", "down_block_types", "up_block_types",
                "layers_per_block", "cross_attention_dim", "norm_num_groups"):
        assert cfg[key] == SD15_UNET[key], key
    with _OnMeta():
        # The plain 2-D UNet (the ReferenceNet's form) with the expression cross-attention off is SD-1.5's.
        model = UNet(dict(cfg, expression_attention=False), temporal=False)
    _compare(_shapes(model), read_list(os.path.join(LISTS, "sd15_unet.txt")), "sd15 UNet")


@pytest.mark.parametrize("temporal", [False, True])
def test_sd15_weights_load_into_the_full_unets(temporal):
    # With expression attention on (and motion modules for the denoiser) every SD-1.5 tensor still has its name
    # and shape, and everything else is one of FLAP's new parts: a real SD-1.5 UNet initialises both UNets.
    UNet = _reference("unet", "UNet")
    load_config = _reference("config", "load_config")
    with _OnMeta():
        model = UNet(load_config("sd15")["unet"], temporal=temporal)
    ours = _shapes(model)
    public = read_list(os.path.join(LISTS, "sd15_unet.txt"))
    _compare({k: v for k, v in ours.items() if k in public}, public, "SD-1.5 part of the full UNet")
    new = [k for k in ours if k not in public]
    new_parts = (".norm_expr.", ".attn_expr.") + ((".motion_modules.",) if temporal else ())
    assert new and all(any(p in k for p in new_parts) for k in new), [k for k in new
                                                                     if not any(p in k for p in new_parts)][:10]
    assert any(".motion_modules." in k for k in new) == temporal


def test_wav2vec2_base_names_and_shapes():
    AudioEncoder = _reference("audio_encoder", "AudioEncoder")
    load_config = _reference("config", "load_config")
    cfg = load_config("sd15")["audio_encoder"]
    for key in ("conv_dim", "conv_kernel", "conv_bias", "feat_extract_norm", "hidden_size", "num_hidden_layers",
                "intermediate_size", "num_conv_pos_embeddings", "num_conv_pos_embedding_groups"):
        assert cfg[key] == WAV2VEC2_BASE[key], key
    torch.manual_seed(0)
    model = AudioEncoder(cfg)  # on CPU: torch 1.13's weight norm has no meta kernel; 94 M floats build in ~1 s
    _compare(_shapes(model), read_list(os.path.join(LISTS, "wav2vec2_base.txt")), "wav2vec2-base")


def test_comparison_catches_differences():
    # The comparison itself must fail on a renamed or re-shaped tensor.
    public = {"a.weight": (2, 3), "b.bias": (4,)}
    with pytest.raises(AssertionError, match="1 missing, 1 extra"):
        _compare({"a.weight": (2, 3), "b.bais": (4,)}, public, "x")
    with pytest.raises(AssertionError, match="1 re-shaped"):
        _compare({"a.weight": (3, 2), "b.bias": (4,)}, public, "x")
