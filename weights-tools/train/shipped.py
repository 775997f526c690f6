"""The shipped flap-mini (models/flap-mini) as the starting point of training, so that every run adds to the
last instead of starting over: its weights are loaded into the current config's model wherever they fit;
parameters the shipped file lacks (a part the config added since, such as the geometry guide's encoders, whose
outputs are zero-initialised, or the estimator) and parts whose layout changed keep their initialisation and
are named in the log."""

from __future__ import annotations

import json
import os

import torch

from common import TOOLS
from flap_ref.model import FlapModel
from flap_ref.safetensors import load_file

SHIPPED = os.path.join(os.path.dirname(TOOLS), "models", "flap-mini")
ASSET = os.path.join(SHIPPED, "head_asset.safetensors")
# The model a round starts from: the shipped one, or (FLAP_WARM_START=dir) a kept candidate of an earlier round
# that was not shipped, so that its training is not lost (models/candidates/).
# A relative path is taken from the repository root (run_all.sh runs from weights-tools/train).
START = os.path.join(os.path.dirname(TOOLS), os.environ.get("FLAP_WARM_START", SHIPPED))
# How the logs name it.
START_LABEL = os.path.relpath(START, os.path.dirname(TOOLS))


def shipped_config() -> dict:
    """The config of the model a round starts from (START)."""
    with open(os.path.join(START, "config.json"), encoding="utf-8") as f:
        return json.load(f)


def shipped_state(cfg: dict) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The weights of the model a round starts from (START: the shipped ones unless FLAP_WARM_START says),
    float32, as a state dict of `FlapModel(cfg)` and the names it had to leave at their
    initialisation: parameters the file lacks, and every parameter of a part (`audio_encoder.`, `unet.`, …)
    whose shipped tensors do not fit the config (say, a new audio front end), which a training run must then
    provide."""
    model = FlapModel(cfg)
    state = model.state_dict()
    shipped = load_file(os.path.join(START, "weights.safetensors"))
    prefix = lambda name: name.split(".")[0]  # noqa: E731
    misfit = {prefix(k) for k, v in shipped.items() if k not in state or v.shape != state[k].shape}
    fresh = sorted(k for k in state if k not in shipped or prefix(k) in misfit)
    state.update({k: v.float() for k, v in shipped.items() if prefix(k) not in misfit})
    return state, fresh


def part(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under `prefix.` with the prefix removed."""
    return {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}


def load_model_dir(path: str):
    """A model directory as it ships (config.json, weights.safetensors as float32, head_asset.safetensors) →
    (FlapModel in eval mode, its config, the GuideRenderer its guide needs or None)."""
    from flap_ref.guide import GuideRenderer
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    model = FlapModel(cfg).eval()
    model.load_state_dict({k: v.float() for k, v in load_file(os.path.join(path, "weights.safetensors")).items()})
    guide = cfg["unet"].get("guide")
    asset = os.path.join(path, "head_asset.safetensors")
    renderer = GuideRenderer(asset if os.path.exists(asset) else ASSET, guide) if guide else None  # kept candidates use the shipped asset
    return model, cfg, renderer
