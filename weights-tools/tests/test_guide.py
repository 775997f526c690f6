"""The geometry guide (flap_ref/guide.py): the renderer poses the shipped head asset exactly as the world poses
its meshes, its images show what the coefficients say, and a zero-initialised encoder leaves a warm-started
UNet's output unchanged."""

import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flap_ref.config import load_config  # noqa: E402
from flap_ref.guide import GuideRenderer  # noqa: E402
from flap_ref.unet import UNet  # noqa: E402
from flap_ref.unet_blocks import Context  # noqa: E402
from world import head as H  # noqa: E402

ASSET = os.path.join(os.path.dirname(__file__), "..", "..", "models", "flap-mini", "head_asset.safetensors")
GUIDE = load_config("mini")["unet"]["guide"]
needs_asset = pytest.mark.skipif(not os.path.exists(ASSET), reason="models/flap-mini is not shipped")


@needs_asset
def test_posing_matches_the_world():
    from world.head import HeadModel, identity_mesh, sample_identity
    import json
    with open(ASSET, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        seed = int(json.loads(f.read(n))["__metadata__"]["identity_seed"])
    model = HeadModel()
    template, _ = identity_mesh(model, sample_identity(seed))
    c = H.identity_coeffs(3)
    c[1, 0:3] = H.euler_to_axis_angle(0.4, -0.1, 0.2)
    c[1, 15] = 0.3
    c[2, 18:20] = 1.0
    c[2, 3:9] = H.gaze_to_6d(0.3, 0.1)
    c[2, 20:30] = 0.8
    want = model.pose_vertices(torch.tensor(c), template)
    got = GuideRenderer(ASSET, GUIDE).pose(torch.tensor(c))
    assert (got - want).abs().max() < 1e-4


@needs_asset
def test_guides_show_the_controls():
    r = GuideRenderer(ASSET, GUIDE)
    c = H.identity_coeffs(4)
    c[1, 18:20] = 1.0                                    # eyes closed
    c[2, 15] = 0.35                                      # jaw open
    c[3, 0:3] = H.euler_to_axis_angle(np.radians(25), 0, 0)
    g, regions = r.render(c, regions=True)
    assert g.shape == (4, 3, GUIDE["size"], GUIDE["size"]) and regions.shape[1] == GUIDE["size"] * GUIDE["supersample"]
    assert float(g.min()) >= 0 and float(g.max()) <= 1
    assert float(g[0, :, 0, 0].abs().sum()) == 0          # black background
    eye_white = H.REGIONS["eye_white"]
    assert (regions[0] == eye_white).sum() > 20 and (regions[1] == eye_white).sum() == 0
    mouth = H.REGIONS["mouth"]
    assert (regions[2] == mouth).sum() > (regions[0] == mouth).sum() + 20
    # A turned head moves its eyes sideways in the image.
    eyes0, eyes3 = r.landmarks(c[[0, 3]])[:, :2, 0].mean(1)
    assert abs(float(eyes3 - eyes0)) > 3


def test_zero_initialised_guide_changes_nothing():
    cfg = load_config("mini")["unet"]
    torch.manual_seed(0)
    guided = UNet(cfg, temporal=False)
    plain = UNet({k: v for k, v in cfg.items() if k != "guide"}, temporal=False)
    plain.load_state_dict({k: v for k, v in guided.state_dict().items() if "guide_encoder" not in k})
    x, t = torch.randn(2, 4, 16, 16), torch.tensor([10, 500])
    pose, expr = torch.randn(2, 2, 128), torch.randn(2, 4, 128)
    guide = torch.rand(2, 3, GUIDE["size"], GUIDE["size"])
    with torch.no_grad():
        a = guided(x, t, Context(pose, expr, guide=guide))
        b = plain(x, t, Context(pose, expr))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="guide"):
        guided(x, t, Context(pose, expr))


def test_estimates_map_back_to_the_coefficients_they_came_from():
    from flap_ref.estimator import ESTIMATES, to_coefficients, targets
    rng = np.random.default_rng(0)
    c = H.identity_coeffs(16)
    for i in range(16):
        c[i, 0:3] = H.euler_to_axis_angle(*np.radians(rng.uniform(-30, 30, 3)))
    c[:, 15] = rng.uniform(0, 0.4, 16)
    c[:, 18:20] = rng.uniform(0, 1, (16, 2))
    c[:, 20:32] = rng.uniform(-1, 1, (16, 12))
    est = targets(c)
    assert est.shape == (16, len(ESTIMATES))
    back = to_coefficients(torch.from_numpy(est)).numpy()
    assert np.abs(back[:, 0:3] - c[:, 0:3]).max() < 1e-5          # the pose survives Euler angles
    assert np.abs(back[:, [15, 18, 19]] - c[:, [15, 18, 19]]).max() < 1e-6
    assert np.abs(back[:, 20:32] - c[:, 20:32]).max() < 1e-6
    assert np.allclose(back[:, 3:15], [1, 0, 0, 0, 1, 0] * 2)      # eyes straight ahead
