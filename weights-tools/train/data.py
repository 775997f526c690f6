"""Random batches from the head-world shards (layout in weights-tools/make_dataset.py)."""

from __future__ import annotations

import numpy as np

from world.data import load_shard, shard_paths


def focus_weights(coeffs: np.ndarray) -> np.ndarray:
    """[..., 120] → how often a frame is drawn relative to an ordinary one: closed eyes (about 5 % of the world's
    frames), an open jaw and a large head rotation are where control shows and where a uniform draw rarely looks."""
    closed = coeffs[..., 18:20].max(-1) > 0.5
    jaw = coeffs[..., 15] > 0.15
    turned = np.linalg.norm(coeffs[..., 0:3], axis=-1) > np.radians(15)
    return 1.0 + 4.0 * closed + 2.0 * jaw + 1.0 * turned


class Shards:
    """Holds up to `limit` shards of a split in memory (about 200 MB each) and samples from them; with `focus`,
    windows are drawn in proportion to `focus_weights` of their frames."""

    def __init__(self, split: str = "train", limit: int | None = None, seed: int = 0, focus: bool = False):
        paths = shard_paths(split)
        if not paths:
            raise FileNotFoundError(f"no {split} shards: run weights-tools/make_dataset.py first")
        self.shards = [load_shard(p) for p in paths[:limit]]
        self.rng = np.random.default_rng(seed)
        self.clips = [(s, c) for s, sh in enumerate(self.shards) for c in range(sh["frames"].shape[0])]
        self.focus = focus
        if focus:
            self.frame_weights = [focus_weights(sh["coeffs"]) for sh in self.shards]   # [clips, frames] per shard

    def _window(self, length: int) -> tuple[int, int, int]:
        """(shard, clip, start) of a random window of `length` frames."""
        if not self.focus:
            s, c = self.clips[self.rng.integers(len(self.clips))]
            return s, c, int(self.rng.integers(self.shards[s]["frames"].shape[1] - length + 1))
        if not hasattr(self, "_cdf") or self._cdf[0] != length:
            w = []
            for fw in self.frame_weights:   # a window weighs as its heaviest frame
                k = fw.shape[1] - length + 1
                w.append(np.stack([fw[:, i:i + length].max(1) for i in range(k)], 1).reshape(-1))
            self._starts = [fw.shape[1] - length + 1 for fw in self.frame_weights]
            self._sizes = [len(x) for x in w]
            cdf = np.cumsum(np.concatenate(w))
            self._cdf = (length, cdf / cdf[-1])
        j = int(np.searchsorted(self._cdf[1], self.rng.random(), side="right"))
        for s, n in enumerate(self._sizes):
            if j < n:
                return s, j // self._starts[s], j % self._starts[s]
            j -= n
        raise AssertionError("unreachable")

    def frames(self, n: int, part: slice | None = None) -> np.ndarray:
        """n random frames (clip frames and reference frames), uint8 [n, H, W, 3]; with `part`, all n are drawn
        (the same random numbers) and only that slice of them is returned (one process's share of a batch)."""
        picks = []
        for _ in range(n):
            s, c = self.clips[self.rng.integers(len(self.clips))]
            sh = self.shards[s]
            if self.rng.random() < 0.1:
                picks.append((s, None, sh["clip_identity"][c]))
            else:
                picks.append((s, c, self.rng.integers(sh["frames"].shape[1])))
        out = []
        for s, c, i in picks[part or slice(None)]:
            sh = self.shards[s]
            out.append(sh["ref_frame"][i] if c is None else sh["frames"][c, i])
        return np.stack(out)

    def windows(self, n: int, length: int, part: slice | None = None):
        """n random windows of `length` consecutive frames with their identity's reference:
        (frames uint8 [n, L, H, W, 3], coeffs [n, L, 120], ref uint8 [n, H, W, 3], ref_coeffs [n, 120]); with `part`,
        all n are drawn and only that slice of them is returned."""
        fr, co, rf, rc = [], [], [], []
        picks = [self._window(length) for _ in range(n)]
        for s, c, start in picks[part or slice(None)]:
            sh = self.shards[s]
            ident = sh["clip_identity"][c]
            fr.append(sh["frames"][c, start:start + length])
            co.append(sh["coeffs"][c, start:start + length])
            rf.append(sh["ref_frame"][ident])
            rc.append(sh["ref_coeffs"][ident])
        return np.stack(fr), np.stack(co).astype(np.float32), np.stack(rf), np.stack(rc).astype(np.float32)
