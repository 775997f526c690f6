"""Reading the shards written by make_dataset.py (layout documented there)."""

from __future__ import annotations

import glob
import json
import os

import numpy as np

DEFAULT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".data", "dataset")


def shard_paths(split: str = "train", root: str | None = None) -> list[str]:
    """Finished shards of a split ('train', 'heldout', 'speech'), in order, from `root`, else $FLAP_DATA (another
    data set in the same format, e.g. real videos converted by vhap_dataset.py), else the head world's."""
    root = root or os.environ.get("FLAP_DATA", DEFAULT_DIR)
    return sorted(p for p in glob.glob(os.path.join(root, f"{split}-*.npz")) if not p.endswith(".tmp.npz"))


def load_shard(path: str) -> dict:
    """All arrays of a shard (memory-mapped where numpy allows) plus `meta` parsed from JSON."""
    with np.load(path) as z:
        out = {k: z[k] for k in z.files}
    out["meta"] = json.loads(str(out["meta"]))
    return out


def utterances(shard: dict):
    """Yields (audio float32 16 kHz, coeffs float32 [T, 120], identity meta) for each identity's utterance."""
    a, ao = shard["utt_audio"], shard["utt_audio_off"]
    c, co = shard["utt_coeffs"], shard["utt_coeffs_off"]
    for i, m in enumerate(shard["meta"]["identities"]):
        yield a[ao[i]:ao[i + 1]], c[co[i]:co[i + 1]], m
