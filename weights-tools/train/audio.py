"""Last stage: the audio encoder and the audio-to-FLAME head on (speech, coefficient) pairs of the world.

  /usr/bin/python3 weights-tools/train/audio.py --minutes 30

A fresh run starts from the shipped audio front end and head when the config's are the same kind (rounds
accumulate). Utterances: the training shards' and the speech-only shards' (make_dataset.py --speech).
Random 2.56 s windows of each identity's utterance (64 frames); the target is the world's coefficient track
of those frames. The loss weights the speech-driven parts (jaw, the mouth expressions) most; head motion,
gaze and blinks are random in the world, so the head only learns their average there (weights 0.1), and the
controls supply them at generation time. Conditioned on the identity's reference coefficients.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from torch import nn

from common import (RUNS, Budget, Distributed, Log, add_run_arguments, load_checkpoint, save_checkpoint, save_final,
                    seed_all)
from flap_ref.audio2flame import Audio2Flame
from flap_ref.mel_encoder import build_audio_encoder
from flap_ref.config import load_config
from shipped import START_LABEL, part, shipped_state
from world.data import load_shard, shard_paths, utterances

SAMPLES_PER_FRAME = 640
WINDOW = 64


def weights() -> torch.Tensor:
    w = torch.full((120,), 0.1)
    w[15:18] = 4.0          # jaw
    w[20:32] = 1.0          # the named expressions (mouth shapes among them)
    w[32:] = 0.3
    return w


class Pairs:
    def __init__(self, split: str, limit: int | None, seed: int, speech: bool = True):
        """Utterances of the split's first `limit` shards and, with `speech`, of every speech-only shard."""
        self.items = []
        for p in shard_paths(split)[:limit] + (shard_paths("speech") if speech else []):
            sh = load_shard(p)
            for i, (audio, coeffs, _) in enumerate(utterances(sh)):
                self.items.append((audio.copy(), coeffs.copy(), sh["ref_coeffs"][i].astype(np.float32)))
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int, part: slice | None = None):
        """n random windows (audio [n, 40960], coefficients [n, 64, 120], reference [n, 120]); with `part`, all n
        are drawn and only that slice is returned."""
        audio, target, ref = [], [], []
        while len(audio) < n:
            a, c, r = self.items[self.rng.integers(len(self.items))]
            if c.shape[0] < WINDOW:
                continue
            start = self.rng.integers(c.shape[0] - WINDOW + 1)
            clip = a[start * SAMPLES_PER_FRAME:(start + WINDOW) * SAMPLES_PER_FRAME]
            if clip.shape[0] < WINDOW * SAMPLES_PER_FRAME:
                continue
            audio.append(clip)
            target.append(c[start:start + WINDOW])
            ref.append(r)
        part = part or slice(None)
        return (torch.from_numpy(np.stack(audio[part])).float(), torch.from_numpy(np.stack(target[part])).float(),
                torch.from_numpy(np.stack(ref[part])).float())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="mini")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--shards", type=int, default=20)
    ap.add_argument("--lr", type=float, default=3e-4)
    # One thread: with two, Debian's torch + OpenBLAS (pthread) returned non-finite losses or gradients for about
    # 40 % of this model's batches (its conv feature extractor), and one such step had poisoned a whole run.
    # One thread is not a cure: a later one-thread run skipped 35 % of its steps, an identical rerun none, and
    # the same batches were finite in isolation. The skip guard below is what keeps the weights safe.
    ap.add_argument("--threads", type=int, default=1)
    add_run_arguments(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dist = Distributed(args.device)
    cfg = load_config(args.config)
    run = os.path.join(RUNS, "audio")
    ckpt_path = os.path.join(run, "checkpoint.pt")
    seed_all(7)
    enc = build_audio_encoder(cfg["audio_encoder"]).to(dist.device)
    head = Audio2Flame(cfg["audio2flame"]).to(dist.device)
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    step, elapsed = 0, 0.0
    state = load_checkpoint(ckpt_path)
    log = Log(run)
    if state is None:
        # Rounds accumulate: start from the shipped audio head unless its front end is another one.
        shipped, fresh = shipped_state(cfg)
        if not any(k.startswith(("audio_encoder.", "audio2flame.")) for k in fresh):
            enc.load_state_dict(part(shipped, "audio_encoder"))
            head.load_state_dict(part(shipped, "audio2flame"))
            log(init=START_LABEL)
    if state is not None:
        enc.load_state_dict(state["encoder"])
        head.load_state_dict(state["head"])
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["elapsed"]
    data = Pairs("train", args.shards, seed=step + 3)
    w = weights().to(dist.device)
    budget = Budget(args.minutes, elapsed)
    last_save = budget.elapsed

    def loss_of(model, audio, target, ref):
        enc, head = model
        pred = head(enc(audio), WINDOW, ref)
        return ((pred - target).pow(2) * w).mean(), pred.detach()

    train_step = dist.step(nn.ModuleList([enc, head]), loss_of, find_unused=False)
    while dist.keep_going(budget, step, args.steps):
        audio, target, ref = (t.to(dist.device) for t in data.batch(args.batch, dist.part(args.batch)))
        loss, pred = train_step(audio, target, ref)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        if dist.any(not (torch.isfinite(loss) and torch.isfinite(norm))):
            # One bad batch must not poison the weights (a run diverged to NaN at step ~190 without this).
            log(step=step, skipped_nonfinite=1)
            continue
        opt.step()
        step += 1
        if step % 20 == 0:
            jaw_p, jaw_t = pred[..., 15].flatten(), target[..., 15].flatten()
            corr = float(torch.corrcoef(torch.stack([jaw_p, jaw_t]))[0, 1])
            log(step=step, loss=dist.mean(float(loss)), jaw_corr=dist.mean(corr), minutes=budget.elapsed / 60)
        if budget.elapsed - last_save > 300:
            save_checkpoint(ckpt_path, encoder=enc.state_dict(), head=head.state_dict(), opt=opt.state_dict(),
                            step=step, elapsed=budget.elapsed)
            last_save = budget.elapsed
    save_checkpoint(ckpt_path, encoder=enc.state_dict(), head=head.state_dict(), opt=opt.state_dict(), step=step,
                    elapsed=budget.elapsed)
    save_final({"encoder": enc.state_dict(), "head": head.state_dict(), "step": step}, os.path.join(run, "final.pt"))
    log(step=step, done=1)


if __name__ == "__main__":
    main()
