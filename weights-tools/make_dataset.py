"""Makes flap-mini's synthetic data set from the procedural head world (weights-tools/world).

Usage:  /usr/bin/python3 weights-tools/make_dataset.py [--train 1000] [--heldout 100] [--per-shard 50]
            [--audio-clips 2] [--motion-clips 3] [--out weights-tools/.data/dataset] [--ss 2] [--part K/N]

Identities: train ids 0..train-1, held-out ids 1_000_000.. (separate seed range); held-out identities
use held-out espeak-ng voices (dialects x variants) and a held-out word list (speech.py).
One shard = `per_shard` identities, file `{split}-{index:04d}.npz` (uncompressed arrays, written to a
temporary name then renamed, so a killed run resumes by skipping finished shards):
  frames        uint8   [C, 16, 128, 128, 3]   clips of 16 frames at 25 fps
  coeffs        float32 [C, 16, 120]           FLAP coefficients of every frame
  clip_identity int32   [C]                    row into the identity arrays below
  clip_audio    float32 [C, 10240]             16 kHz audio of the clip's 0.64 s (zeros when has_audio = 0)
  has_audio     uint8   [C]
  ref_frame     uint8   [I, 128, 128, 3]        each identity's reference (neutral-ish) frame
  ref_coeffs    float32 [I, 120]
  identity_seed int64   [I]
  utt_audio     float32 [sum]  utt_audio_off int64 [I+1]    each identity's whole utterance, 16 kHz
  utt_coeffs    float32 [sum, 120]  utt_coeffs_off int64 [I+1]  its coefficient sequence at 25 fps
  meta          JSON string: per-identity voice, rate, pitch, text; the world version and settings
Speech shards (`--speech N`, file `speech-{index:04d}.npz`, 500 identities each, seeds 2_000_000..): the same
speech and coefficient tracks without any frame (utt_audio, utt_audio_off, utt_coeffs, utt_coeffs_off,
ref_coeffs, identity_seed, meta), for the audio head, which needs many voices and words and no pictures; about
40 ms an utterance instead of seconds an identity.
Motion clips (no audio) use denser blinks (every 0.6-2.5 s) and random jaw/lip episodes so that short clips
still contain closures and mouth shapes; audio clips use the natural rates.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from world import motion, speech  # noqa: E402
from world.head import HeadModel, sample_identity  # noqa: E402
from world.render import Renderer  # noqa: E402

CLIP = 16
SAMPLES_PER_FRAME = speech.SR_OUT // speech.FPS  # 640
HELDOUT_BASE = 1_000_000
SPEECH_BASE = 2_000_000
SPEECH_PER_SHARD = 500
WORLD_VERSION = 2  # 2: head motion up to 35° yaw, 32° pitch and roll (world/motion.py)


def make_identity(model, seed: int, heldout: bool, n_audio: int, n_motion: int, ss: int):
    rng = np.random.default_rng([seed, 0x5EED])
    ident = sample_identity(seed)
    r = Renderer(model, ident, ss=ss)
    ref_c = motion.reference_coeffs(rng)
    voice, rate, pitch, prange = speech.random_voice(rng, heldout)
    text = speech.random_text(rng, heldout)
    audio, tracks, _ = speech.utterance(text, voice, rate, pitch, prange)
    T = len(tracks)
    seq = motion.sequence(rng, T, mouth=tracks)
    clips_c, clips_a, has = [], [], []
    for _ in range(n_audio):
        if T < CLIP:
            break
        k0 = int(rng.integers(0, T - CLIP + 1))
        a = audio[k0 * SAMPLES_PER_FRAME:(k0 + CLIP) * SAMPLES_PER_FRAME]
        clips_c.append(seq[k0:k0 + CLIP])
        clips_a.append(np.pad(a, (0, CLIP * SAMPLES_PER_FRAME - len(a))))
        has.append(1)
    for _ in range(n_motion):
        long = motion.sequence(rng, 75, blink_gap=(0.6, 2.5))
        k0 = int(rng.integers(0, 75 - CLIP + 1))
        clips_c.append(long[k0:k0 + CLIP])
        clips_a.append(np.zeros(CLIP * SAMPLES_PER_FRAME, np.float32))
        has.append(0)
    allc = np.concatenate([ref_c[None]] + clips_c)
    frames = r.render(allc)
    return dict(ref_frame=frames[0], ref_coeffs=ref_c, frames=frames[1:].reshape(-1, CLIP, *frames.shape[1:]),
                coeffs=np.stack(clips_c), clip_audio=np.stack(clips_a).astype(np.float32), has_audio=np.array(has, np.uint8),
                utt_audio=audio, utt_coeffs=seq,
                meta=dict(seed=seed, voice=voice, rate=rate, pitch=pitch, range=prange, text=text))


def make_shard(model, path: str, seeds, heldout: bool, args):
    parts = [make_identity(model, s, heldout, args.audio_clips, args.motion_clips, args.ss) for s in seeds]
    ci = np.concatenate([np.full(len(p["coeffs"]), i, np.int32) for i, p in enumerate(parts)])
    off_a = np.cumsum([0] + [len(p["utt_audio"]) for p in parts])
    off_c = np.cumsum([0] + [len(p["utt_coeffs"]) for p in parts])
    meta = dict(world_version=WORLD_VERSION, split="heldout" if heldout else "train", ss=args.ss, fps=25,
                sample_rate=speech.SR_OUT, identities=[p["meta"] for p in parts])
    tmp = path + ".tmp.npz"
    np.savez(tmp, frames=np.concatenate([p["frames"] for p in parts]), coeffs=np.concatenate([p["coeffs"] for p in parts]),
             clip_identity=ci, clip_audio=np.concatenate([p["clip_audio"] for p in parts]),
             has_audio=np.concatenate([p["has_audio"] for p in parts]),
             ref_frame=np.stack([p["ref_frame"] for p in parts]), ref_coeffs=np.stack([p["ref_coeffs"] for p in parts]),
             identity_seed=np.array(seeds, np.int64),
             utt_audio=np.concatenate([p["utt_audio"] for p in parts]).astype(np.float32), utt_audio_off=off_a,
             utt_coeffs=np.concatenate([p["utt_coeffs"] for p in parts]), utt_coeffs_off=off_c,
             meta=np.array(json.dumps(meta)))
    os.replace(tmp, path)


def shard_version(path: str) -> int:
    """The world version a shard was made with (shards of another version are made again)."""
    with np.load(path) as z:
        return int(json.loads(str(z["meta"])).get("world_version", 0))


def make_speech_shard(path: str, seeds) -> None:
    auds, seqs, refs, metas = [], [], [], []
    for seed in seeds:
        rng = np.random.default_rng([seed, 0x5EED])
        refs.append(motion.reference_coeffs(rng))
        voice, rate, pitch, prange = speech.random_voice(rng, False)
        text = speech.random_text(rng, False)
        audio, tracks, _ = speech.utterance(text, voice, rate, pitch, prange)
        auds.append(audio.astype(np.float32))
        seqs.append(motion.sequence(rng, len(tracks), mouth=tracks))
        metas.append(dict(seed=seed, voice=voice, rate=rate, pitch=pitch, range=prange, text=text))
    meta = dict(world_version=WORLD_VERSION, split="speech", fps=25, sample_rate=speech.SR_OUT, identities=metas)
    tmp = path + ".tmp.npz"
    np.savez(tmp, utt_audio=np.concatenate(auds), utt_audio_off=np.cumsum([0] + [len(a) for a in auds]),
             utt_coeffs=np.concatenate(seqs), utt_coeffs_off=np.cumsum([0] + [len(c) for c in seqs]),
             ref_coeffs=np.stack(refs).astype(np.float32), identity_seed=np.array(seeds, np.int64),
             meta=np.array(json.dumps(meta)))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument("--heldout", type=int, default=100)
    ap.add_argument("--per-shard", type=int, default=50)
    ap.add_argument("--audio-clips", type=int, default=2)
    ap.add_argument("--motion-clips", type=int, default=3)
    ap.add_argument("--ss", type=int, default=2, help="supersampling factor of the renderer")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".data", "dataset"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--speech", type=int, default=0, help="identities of speech-only shards for the audio head")
    ap.add_argument("--part", default="0/1", help="K/N: this process makes every N-th shard from the K-th "
                    "(run N processes with K = 0..N-1 to use N cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    model = HeadModel()
    jobs = []
    for split, n, base in (("heldout", args.heldout, HELDOUT_BASE), ("train", args.train, 0)):
        for s in range(0, n, args.per_shard):
            seeds = list(range(base + s, base + min(n, s + args.per_shard)))
            jobs.append((os.path.join(args.out, f"{split}-{s // args.per_shard:04d}.npz"), seeds, split == "heldout"))
    k, n = (int(v) for v in args.part.split("/"))
    for path, seeds, held in jobs[k::n]:
        if os.path.exists(path) and shard_version(path) == WORLD_VERSION:
            print(f"skip {path} (done)", flush=True)
            continue
        t = time.time()
        make_shard(model, path, seeds, held, args)
        dt = time.time() - t
        nfr = len(seeds) * (1 + CLIP * (args.audio_clips + args.motion_clips))
        print(f"{path}: {len(seeds)} identities, {nfr} frames, {dt:.1f} s ({1000 * dt / nfr:.1f} ms/frame incl. speech), "
              f"{os.path.getsize(path) / 1e6:.1f} MB", flush=True)

    # Speech-only shards last: the first training steps (the UNet's) need the frames.
    speech_jobs = [(os.path.join(args.out, f"speech-{s // SPEECH_PER_SHARD:04d}.npz"),
                    list(range(SPEECH_BASE + s, SPEECH_BASE + min(args.speech, s + SPEECH_PER_SHARD))))
                   for s in range(0, args.speech, SPEECH_PER_SHARD)]
    for path, seeds in speech_jobs[k::n]:
        if not os.path.exists(path) or shard_version(path) != WORLD_VERSION:
            t = time.time()
            make_speech_shard(path, seeds)
            print(f"{path}: {len(seeds)} utterances, {time.time() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main()
