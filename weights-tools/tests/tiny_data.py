"""Tiny data sets in make_dataset.py's shard format (random frames, coefficients and audio), for tests of the
training scripts: everything a script reads is there, nothing is meaningful."""

from __future__ import annotations

import json
import os

import numpy as np

CLIP = 16
SAMPLES_PER_FRAME = 640


def write_shard(path: str, size: int, identities: int = 2, clips: int = 2, utterance_frames: int = 72,
                seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n_clips = identities * clips
    coeffs = rng.normal(0, 0.1, (n_clips, CLIP, 120)).astype(np.float32)
    utt_coeffs = rng.normal(0, 0.1, (identities * utterance_frames, 120)).astype(np.float32)
    utt_audio = rng.normal(0, 0.1, identities * utterance_frames * SAMPLES_PER_FRAME).astype(np.float32)
    meta = {"world_version": 0, "split": os.path.basename(path).split("-")[0], "fps": 25, "sample_rate": 16000,
            "identities": [{"seed": i} for i in range(identities)]}
    np.savez(path,
             frames=rng.integers(0, 256, (n_clips, CLIP, size, size, 3), dtype=np.uint8),
             coeffs=coeffs,
             clip_identity=np.repeat(np.arange(identities, dtype=np.int32), clips),
             clip_audio=rng.normal(0, 0.1, (n_clips, CLIP * SAMPLES_PER_FRAME)).astype(np.float32),
             has_audio=np.ones(n_clips, np.uint8),
             ref_frame=rng.integers(0, 256, (identities, size, size, 3), dtype=np.uint8),
             ref_coeffs=rng.normal(0, 0.1, (identities, 120)).astype(np.float32),
             identity_seed=np.arange(identities, dtype=np.int64),
             utt_audio=utt_audio, utt_audio_off=np.arange(identities + 1) * utterance_frames * SAMPLES_PER_FRAME,
             utt_coeffs=utt_coeffs, utt_coeffs_off=np.arange(identities + 1) * utterance_frames,
             meta=np.array(json.dumps(meta)))


def write_dataset(root: str, size: int) -> str:
    os.makedirs(root, exist_ok=True)
    write_shard(os.path.join(root, "train-0000.npz"), size, seed=1)
    write_shard(os.path.join(root, "heldout-0000.npz"), size, seed=2)
    return root
