"""Regenerating the golden fixtures reproduces the committed files: the same tensors with the same shapes and
dtypes, values within 1e-5 of each tensor's scale (max |a − b| ≤ 1e-5 · max(1, max |committed|); CPU kernels
may round differently on another processor)."""

import os
import sys

import pytest
import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOOLS)

import gen_fixtures  # noqa: E402
from flap_ref.safetensors import load_file, read_metadata  # noqa: E402

FILES = ("test_weights", "test_modules", "test_generation", "test_schedules")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixtures")
    gen_fixtures.main(["--out", str(out)])
    return out


@pytest.mark.parametrize("name", FILES)
def test_regenerated_fixture_matches_committed(regenerated, name):
    committed_path = os.path.join(gen_fixtures.DEFAULT_OUT, f"{name}.safetensors")
    assert os.path.exists(committed_path), f"{committed_path} is missing: run weights-tools/gen_fixtures.py"
    committed, fresh = load_file(committed_path), load_file(os.path.join(regenerated, f"{name}.safetensors"))
    assert list(fresh) == list(committed)
    worst = []
    for key, b in committed.items():
        a = fresh[key]
        assert a.dtype == b.dtype and a.shape == b.shape, key
        if not a.is_floating_point():
            assert torch.equal(a, b), key
            continue
        a, b = a.double(), b.double()
        err = float((a - b).abs().max()) if b.numel() else 0.0
        worst.append((err, key))
        assert err <= 1e-5 * max(1.0, float(b.abs().max()) if b.numel() else 0.0), f"{key}: max |a - b| = {err:.3g}"
    meta = read_metadata(committed_path)
    assert meta["config"] == "test" and meta["seed"] == str(gen_fixtures.SEED)


def test_fixtures_stay_small():
    """The golden fixtures of gen_fixtures.py stay under 8 MB together. (tests/fixtures also holds the UNet block
    cases of tests/models/make_unet_cases.py, counted on their own below.)"""
    size = lambda f: os.path.getsize(os.path.join(gen_fixtures.DEFAULT_OUT, f))  # noqa: E731
    golden = sum(size(f"{name}.safetensors") for name in FILES) + size("speech.wav")
    assert golden < 8_000_000, f"the golden fixtures hold {golden / 1e6:.2f} MB"
    assert size("unet_blocks.safetensors") < 6_000_000
