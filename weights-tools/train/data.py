"""Random batches from the head-world shards (layout in weights-tools/make_dataset.py)."""

from __future__ import annotations

import numpy as np

from world.data import load_shard, shard_paths


class Shards:
    """Holds up to `limit` shards of a split in memory (about 200 MB each) and samples from them."""

    def __init__(self, split: str = "train", limit: int | None = None, seed: int = 0):
        paths = shard_paths(split)
        if not paths:
            raise FileNotFoundError(f"no {split} shards: run weights-tools/make_dataset.py first")
        self.shards = [load_shard(p) for p in paths[:limit]]
        self.rng = np.random.default_rng(seed)
        self.clips = [(s, c) for s, sh in enumerate(self.shards) for c in range(sh["frames"].shape[0])]

    def frames(self, n: int) -> np.ndarray:
        """n random frames (clip frames and reference frames), uint8 [n, H, W, 3]."""
        out = []
        for _ in range(n):
            s, c = self.clips[self.rng.integers(len(self.clips))]
            sh = self.shards[s]
            if self.rng.random() < 0.1:
                out.append(sh["ref_frame"][sh["clip_identity"][c]])
            else:
                out.append(sh["frames"][c, self.rng.integers(sh["frames"].shape[1])])
        return np.stack(out)

    def windows(self, n: int, length: int):
        """n random windows of `length` consecutive frames with their identity's reference:
        (frames uint8 [n, L, H, W, 3], coeffs [n, L, 120], ref uint8 [n, H, W, 3], ref_coeffs [n, 120])."""
        fr, co, rf, rc = [], [], [], []
        for _ in range(n):
            s, c = self.clips[self.rng.integers(len(self.clips))]
            sh = self.shards[s]
            start = self.rng.integers(sh["frames"].shape[1] - length + 1)
            ident = sh["clip_identity"][c]
            fr.append(sh["frames"][c, start:start + length])
            co.append(sh["coeffs"][c, start:start + length])
            rf.append(sh["ref_frame"][ident])
            rc.append(sh["ref_coeffs"][ident])
        return np.stack(fr), np.stack(co).astype(np.float32), np.stack(rf), np.stack(rc).astype(np.float32)
