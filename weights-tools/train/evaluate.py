"""Measures flap-mini on held-out identities and speech and writes models/flap-mini/metrics.json.

  /usr/bin/python3 weights-tools/train/evaluate.py [--clips 12] [--steps 8]

- psnr, ssim: generated frames vs the world's renders of the same coefficients (held-out clips; the
  coefficients go in directly, so this measures the video model, not the audio head);
  psnrGainOverCopyBaseline: on frames whose pose differs from the reference's by more than 10°, PSNR of the
  generated frame minus PSNR of the reference image itself (the "copy" baseline);
- poseErrorDeg: requested yaw/pitch/roll (uniform in ±30°) vs what the probe reads from the generated frames;
- blinkRecall, blinkFalsePerMinute: requested closures (eyelids ≥ 0.8 for ≥ 3 frames) vs the probe's eyelid
  reading crossing 0.5;
- jawCorrelationAudio: Pearson correlation of the audio head's jaw with the world's (teacher) jaw on held-out
  utterances; jawCorrelationProbe: requested jaw vs the probe's jaw on generated frames;
- colourShift: mean absolute difference (0-255) of the mean colour of the face box and of the hair box
  between generated frames and the reference;
- driftDb: a 10-clip generation of a held-out identity's coefficients, mean PSNR of clip 1 minus that of clip 10
  (positive: the video gets worse as the motion frames carry errors on);
- flicker: mean absolute change (0-255) between consecutive generated frames of a still, silent head;
- estimatorPoseErrorDeg: the model's own estimator (flap_ref/estimator.py, when it has one) on 256 held-out
  frames (held-out identities in every pose of their clips): mean absolute yaw/pitch/roll error against the
  coefficients they were rendered with.

It measures a model directory exactly as it ships (config.json, the f16 weight values, head_asset.safetensors):
by default the candidate that export.py wrote (.runs/candidate), with `--model models/flap-mini` the shipped
one, so both are measured by the same code and probe; metrics.json goes into that directory (or `--out`), and
train/compare.py then says whether the candidate may replace the shipped model.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

from common import to_unit
from data import Shards
from export import CANDIDATE, safe_metadata
from flap_ref.pipeline import SamplingOptions, audio_to_coefficients, generate
from shipped import load_model_dir
from probe import load_probe, targets
from world.data import load_shard, shard_paths, utterances
from world.head import euler_to_axis_angle


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR of images in [0, 1], [N, 3, H, W]."""
    mse = (a - b).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return -10 * torch.log10(mse)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-frame SSIM (11-tap Gaussian window, sigma 1.5, on luma), [N, 3, H, W] in [0, 1]."""
    w = torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]
    x, y = (a * w).sum(1, keepdim=True), (b * w).sum(1, keepdim=True)
    g = torch.exp(-((torch.arange(11) - 5.0) ** 2) / (2 * 1.5 ** 2))
    g = (g / g.sum())
    k = (g[:, None] * g[None, :])[None, None]
    blur = lambda t: F.conv2d(t, k)  # noqa: E731
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


def closures(track: np.ndarray, threshold: float, min_len: int) -> list[tuple[int, int]]:
    out, start = [], None
    for i, v in enumerate(np.append(track, -np.inf)):
        if v >= threshold and start is None:
            start = i
        elif v < threshold and start is not None:
            if i - start >= min_len:
                out.append((start, i))
            start = None
    return out


def number(text: str):
    """A metadata value back as the number it was written from, when it is one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None if text == "None" else text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--guidance", type=float, help="classifier-free guidance (default the model's own, "
                    "config scheduler.default_guidance_scale, as the library samples it)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=CANDIDATE, help="model directory (default the exported candidate)")
    ap.add_argument("--out", help="where to write the metrics (default MODEL/metrics.json)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, cfg, renderer = load_model_dir(args.model)
    info = safe_metadata(os.path.join(args.model, "weights.safetensors"))
    info = {k: number(v) for k, v in info.items() if k not in ("config", "format")}
    out_path = args.out or os.path.join(args.model, "metrics.json")
    run = lambda image, ref_c, c: generate(model, None, image, ref_c, opts, coeffs=c, renderer=renderer)[0]  # noqa: E731
    probe = load_probe()
    guidance = args.guidance if args.guidance is not None else cfg["scheduler"]["default_guidance_scale"]
    opts = SamplingOptions("dpmpp_2m", args.steps, guidance, seed=1)
    held = Shards("heldout", 2, seed=21)
    m = {}

    # Reconstruction of requested coefficients on held-out identities.
    ps, ss, gains, pose_err, jaw_req, jaw_seen, colour = [], [], [], [], [], [], []
    for i in range(args.clips):
        frames, coeffs, ref, ref_coeffs = held.windows(1, 16)
        gt = torch.from_numpy(frames[0]).float().permute(0, 3, 1, 2) / 255
        image = to_unit(ref)[0]
        c = torch.from_numpy(coeffs[0])
        if i % 2 == 1:  # requested poses within ±30°
            rng = np.random.default_rng(i)
            ypr = np.radians(rng.uniform(-30, 30, 3))
            c[:, 0:3] = torch.from_numpy(euler_to_axis_angle(*ypr).astype(np.float32))
        out = run(image, torch.from_numpy(ref_coeffs[0]), c)
        with torch.no_grad():
            read = probe(out * 2 - 1).numpy()
        want = targets(c.numpy())
        if i % 2 == 1:
            pose_err.append(np.abs(read[:, 0:3] - want[:, 0:3]).mean())
        else:
            ps.append(psnr(out, gt))
            ss.append(ssim(out, gt))
            ref_img = torch.from_numpy(ref[0]).float().permute(2, 0, 1)[None] / 255
            pose_diff = np.abs(targets(coeffs[0])[:, 0:3] - targets(ref_coeffs)[0, 0:3]).max(1)
            sel = torch.from_numpy(pose_diff > 10)
            if sel.any():
                gains.append((psnr(out[sel], gt[sel]) - psnr(ref_img.expand(int(sel.sum()), -1, -1, -1), gt[sel])))
        jaw_req.append(want[:, 3])
        jaw_seen.append(read[:, 3])
        ref_img = torch.from_numpy(ref[0]).float() / 255
        gen = out.permute(0, 2, 3, 1)
        for box in ((slice(56, 96), slice(44, 84)), (slice(8, 28), slice(40, 88))):  # face, hair
            colour.append(float((gen[:, box[0], box[1]].mean((0, 1, 2)) - ref_img[box].mean((0, 1))).abs().mean() * 255))
    m["psnr"] = float(torch.cat(ps).mean())
    m["ssim"] = float(torch.cat(ss).mean())
    m["psnrGainOverCopyBaseline"] = float(torch.cat(gains).mean()) if gains else None
    m["poseErrorDeg"] = float(np.mean(pose_err))
    jr, js = np.concatenate(jaw_req), np.concatenate(jaw_seen)
    m["jawCorrelationProbe"] = float(np.corrcoef(jr, js)[0, 1])
    m["colourShift"] = float(np.mean(colour))

    if hasattr(model, "estimator"):
        frames, coeffs, _, _ = Shards("heldout", 2, seed=33).windows(256, 1)
        with torch.no_grad():
            read = model.estimator(to_unit(frames[:, 0])).numpy()
        m["estimatorPoseErrorDeg"] = float(np.abs(read[:, 0:3] - targets(coeffs[:, 0])[:, 0:3]).mean())

    # Blinks: requested closures of 0.2 s every ~1.2 s on a still head.
    recall_hits, requested, false, seconds = 0, 0, 0, 0.0
    for i in range(4):
        frames, coeffs, ref, ref_coeffs = held.windows(1, 16)
        c = torch.from_numpy(np.repeat(ref_coeffs, 48, 0))
        lids = np.zeros(48, np.float32)
        for s in (6, 20, 34):
            lids[s:s + 5] = 1.0
        c[:, 18:20] = torch.from_numpy(lids)[:, None]
        out = run(to_unit(ref)[0], torch.from_numpy(ref_coeffs[0]), c)
        with torch.no_grad():
            read = probe(out * 2 - 1).numpy()[:, 4:6].mean(1)
        want = closures(lids, 0.8, 3)
        seen = closures(read, 0.5, 1)
        requested += len(want)
        recall_hits += sum(any(s < b and e > a for s, e in seen) for a, b in want)
        false += sum(not any(s < b and e > a for a, b in want) for s, e in seen)
        seconds += 48 / 25
    m["blinkRecall"] = recall_hits / max(1, requested)
    m["blinkFalsePerMinute"] = false / seconds * 60

    # Drift: ten clips of a held-out utterance's coefficient track (renders of the world as ground truth).
    f = cfg["video"]["frames_per_clip"]
    sh = load_shard(shard_paths("heldout")[0])
    i = 0
    _, track, _ = next(utterances(sh))
    while track.shape[0] < 10 * f:  # played back and forth: long enough, and still continuous
        track = np.concatenate([track, track[::-1]])
    track = np.ascontiguousarray(track[:10 * f])
    from world.head import HeadModel, sample_identity
    from world.render import Renderer
    seed = int(sh["identity_seed"][i])
    truth = torch.from_numpy(Renderer(HeadModel(), sample_identity(seed), ss=sh["meta"]["ss"]).render(track)).float().permute(0, 3, 1, 2) / 255
    out = run(to_unit(sh["ref_frame"][i]), torch.from_numpy(sh["ref_coeffs"][i].astype(np.float32)), torch.from_numpy(track))
    per_clip = psnr(out, truth).view(10, f).mean(1)
    m["driftDb"] = float(per_clip[0] - per_clip[-1])

    # Flicker: the portrait's own coefficients held for two clips (a still, silent head).
    still_coeffs = torch.from_numpy(np.repeat(sh["ref_coeffs"][i:i + 1].astype(np.float32), 2 * f, 0))
    still = run(to_unit(sh["ref_frame"][i]), still_coeffs[0], still_coeffs) * 255
    m["flicker"] = float((still[1:] - still[:-1]).abs().mean())

    # Lip sync of the audio head on held-out speech, on one thread: with two, Debian's torch + OpenBLAS has
    # returned non-finite values from this conv stack (see audio.py).
    torch.set_num_threads(1)
    jaw_p, jaw_t = [], []
    sh = load_shard(shard_paths("heldout")[0])
    for k, (audio, coeffs, _) in enumerate(utterances(sh)):
        if k >= 20:
            break
        pred = audio_to_coefficients(model, torch.from_numpy(audio.copy()), torch.from_numpy(sh["ref_coeffs"][k]))
        n = min(pred.shape[0], coeffs.shape[0])
        jaw_p.append(pred[:n, 15].numpy())
        jaw_t.append(coeffs[:n, 15])
    m["jawCorrelationAudio"] = float(np.corrcoef(np.concatenate(jaw_p), np.concatenate(jaw_t))[0, 1])
    m["settings"] = {"sampler": opts.sampler, "steps": opts.steps, "guidance": opts.guidance_scale,
                     "clips": args.clips, **info}
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(m, fh, indent=2)
        fh.write("\n")
    print(json.dumps(m, indent=2))


if __name__ == "__main__":
    main()
