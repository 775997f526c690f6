"""The UNet side of the reference: structure, names, and the properties the design relies on."""

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flap_ref.attention import Attention  # noqa: E402
from flap_ref.config import load_config  # noqa: E402
from flap_ref.reference_net import ReferenceNet  # noqa: E402
from flap_ref.unet import UNet  # noqa: E402
from flap_ref.unet_blocks import Context  # noqa: E402


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name,temporal,expected", [
    ("test", True, 843_508), ("test", False, 567_124), ("mini", True, 10_736_516),  # 10,673,668 + the geometry guide encoder (62,848)
])
def test_parameter_counts(name, temporal, expected):
    assert count(UNet(load_config(name)["unet"], temporal)) == expected


def test_sd15_without_expression_attention_is_sd15_sized():
    unet = dict(load_config("sd15")["unet"], expression_attention=False)
    model = UNet(unet, temporal=False)
    # diffusers' SD-1.5 UNet2DConditionModel: 686 tensors, 859,520,964 parameters.
    assert len(model.state_dict()) == 686
    assert count(model) == 859_520_964


def tiny(seed=0, temporal=True):
    torch.manual_seed(seed)
    return UNet(load_config("test")["unet"], temporal).eval()


def tokens(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, 32, generator=g), torch.randn(n, 2, 32, generator=g)


def test_fresh_motion_modules_are_the_identity():
    video, image = tiny(temporal=True), tiny(temporal=False)
    image.load_state_dict({k: v for k, v in video.state_dict().items() if "motion_modules" not in k})
    x = torch.randn(6, 4, 8, 8)
    t = torch.full((6,), 300)
    with torch.no_grad():
        a = video(x, t, Context(*tokens(6), frames=3))
        b = image(x, t, Context(*tokens(6), frames=1))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_temporal_attention_mixes_frames_of_one_video_only():
    model = tiny()
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "proj_out") and isinstance(m.proj_out, torch.nn.Linear):
                m.proj_out.weight.normal_(0, 0.2)
    x = torch.randn(6, 4, 8, 8)
    t = torch.full((6,), 300)
    y = x.clone()
    y[0] += 1.0  # video 0 = frames 0..2, video 1 = frames 3..5
    with torch.no_grad():
        a = model(x, t, Context(*tokens(6), frames=3))
        b = model(y, t, Context(*tokens(6), frames=3))
    assert (a[1:3] - b[1:3]).abs().max() > 1e-3
    torch.testing.assert_close(a[3:], b[3:], rtol=0, atol=1e-6)


def test_self_attention_over_duplicated_keys_is_unchanged():
    # Why a reference whose features equal the frame's own leaves attn1 unchanged: softmax over [k, k] with
    # values [v, v] is softmax over k with v.
    attn = Attention(16, heads=2, dim_head=8)
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, torch.cat([x, x], 1)), attn(x), rtol=1e-5, atol=1e-6)


def test_reference_features_are_keyed_like_the_denoisers_transformers():
    cfg = load_config("test")["unet"]
    torch.manual_seed(0)
    ref = ReferenceNet(cfg).eval()
    den = tiny()
    pose, expr = tokens(1)
    with torch.no_grad():
        features = ref(torch.randn(1, 4, 8, 8), pose, expr)
    assert list(features) == den.attention_keys()
    for key, value in features.items():
        channels = ref.get_submodule(key).norm.num_channels
        assert value.shape[0] == 1 and value.shape[2] == channels
    with torch.no_grad():
        x = torch.randn(4, 4, 8, 8)
        out = den(x, torch.full((4,), 10), Context(*tokens(4), frames=4, reference=features))
        base = den(x, torch.full((4,), 10), Context(*tokens(4), frames=4))
    assert out.shape == x.shape and (out - base).abs().max() > 1e-4


def test_expression_tokens_reach_the_output_only_through_attn_expr():
    model = tiny()
    x = torch.randn(2, 4, 8, 8)
    pose, expr = tokens(2)
    with torch.no_grad():
        a = model(x, torch.full((2,), 100), Context(pose, expr, frames=2))
        b = model(x, torch.full((2,), 100), Context(pose, expr * 2, frames=2))
        for m in model.modules():
            if hasattr(m, "attn_expr") and m.attn_expr is not None:
                m.attn_expr.to_v.weight.zero_()
                m.attn_expr.to_out[0].weight.zero_()
        c = model(x, torch.full((2,), 100), Context(pose, expr, frames=2))
        d = model(x, torch.full((2,), 100), Context(pose, expr * 2, frames=2))
    assert (a - b).abs().max() > 1e-4
    torch.testing.assert_close(c, d, rtol=0, atol=0)
