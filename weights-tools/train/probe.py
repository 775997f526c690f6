"""The coefficient probe, which flap-mini ships as its estimator (flap_ref/estimator.py): a small CNN that reads
pose, jaw, eyelids and the named expressions back from a 128×128 frame, trained on ground-truth renders of the
world. The evaluation uses it to measure whether generated frames obey the requested coefficients; export.py
puts it into the model under `estimator.`.

  /usr/bin/python3 weights-tools/train/probe.py --minutes 20

Outputs (PROBE_TARGETS): yaw, pitch, roll in degrees (from global_rot), jaw opening (jaw x, radians), eyelids
left/right, the 12 named expressions.

Frames are drawn with data.focus_weights (closed eyes, open jaws, turned heads more often) and the eyelid
outputs weigh EYELID_WEIGHT times more: drawn uniformly, closed eyes are about 5 % of the frames, and a probe
trained that way read every eye as open (eyelid 0.02 on held-out closed eyes), so no blink could ever be
measured. The held-out report includes how often closed and open eyes are read as such.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F

from common import (RUNS, Budget, Distributed, Log, add_run_arguments, load_checkpoint, save_checkpoint, save_final,
                    seed_all, to_unit)
from data import Shards
from flap_ref.config import load_config
from flap_ref.estimator import ESTIMATES, SCALE as SCALE_LIST, Estimator, targets
from shipped import START, part, shipped_state

PROBE_TARGETS = ESTIMATES
SCALE = torch.tensor(SCALE_LIST)
EYELID_WEIGHT = 4.0
WEIGHTS = torch.tensor([EYELID_WEIGHT if name.startswith("eyelid") else 1.0 for name in ESTIMATES])
Probe = Estimator


def start_estimator() -> dict[str, torch.Tensor] | None:
    """The estimator of the model the round starts from (an earlier round's probe as it shipped), or None."""
    shipped, fresh = shipped_state(load_config("mini"))
    return None if any(k.startswith("estimator.") for k in fresh) else part(shipped, "estimator")


def load_probe() -> Probe:
    """This round's probe, else (a round that skipped the probe stage, say on a fresh machine) the starting model's
    estimator (f16 values)."""
    probe = Probe()
    path = os.path.join(RUNS, "probe", "final.pt")
    weights = torch.load(path, map_location="cpu")["model"] if os.path.exists(path) else start_estimator()
    if weights is None:
        raise FileNotFoundError(f"no probe run ({path}) and no estimator in {START}: run train/probe.py")
    probe.load_state_dict(weights)
    return probe.eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    add_run_arguments(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dist = Distributed(args.device)
    run = os.path.join(RUNS, "probe")
    ckpt_path = os.path.join(run, "checkpoint.pt")
    seed_all(3)
    probe = Probe().to(dist.device)
    opt = torch.optim.AdamW(probe.parameters(), lr=1e-3, weight_decay=1e-4)
    step, elapsed = 0, 0.0
    state = load_checkpoint(ckpt_path)
    if state is None:
        # Rounds accumulate: the shipped model's estimator is this probe trained before.
        weights = start_estimator()
        if weights is not None:
            probe.load_state_dict(weights)
            print("probe: started from the shipped estimator")
    if state is not None:
        probe.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["elapsed"]
    data = Shards("train", args.shards, seed=step + 5, focus=True)
    log = Log(run)
    budget = Budget(args.minutes, elapsed)
    last_save = budget.elapsed
    scale = SCALE.to(dist.device)
    weights = WEIGHTS.to(dist.device)
    train_step = dist.step(probe, lambda model, x, y: (F.smooth_l1_loss(model(x) / scale, y / scale, reduction="none") * weights).mean(),
                           find_unused=False)
    while dist.keep_going(budget, step, args.steps):
        frames, coeffs, _, _ = data.windows(args.batch, 1, dist.part(args.batch))
        x = to_unit(frames[:, 0]).to(dist.device)
        y = torch.from_numpy(targets(coeffs[:, 0])).to(dist.device)
        loss = train_step(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 25 == 0:
            log(step=step, loss=dist.mean(float(loss)), minutes=budget.elapsed / 60)
        if budget.elapsed - last_save > 300:
            save_checkpoint(ckpt_path, model=probe.state_dict(), opt=opt.state_dict(), step=step, elapsed=budget.elapsed)
            last_save = budget.elapsed
    save_checkpoint(ckpt_path, model=probe.state_dict(), opt=opt.state_dict(), step=step, elapsed=budget.elapsed)
    probe.eval()
    held = Shards("heldout", 1, seed=9)
    with torch.no_grad():
        frames, coeffs, _, _ = held.windows(256, 1)
        err = (probe(to_unit(frames[:, 0]).to(dist.device)).cpu() - torch.from_numpy(targets(coeffs[:, 0]))).abs().mean(0)
    eyes = eyelid_check(probe, Shards("heldout", 1, seed=10, focus=True), dist.device)
    save_final({"model": probe.state_dict(), "step": step, "heldout_mae": dict(zip(PROBE_TARGETS, err.tolist())), "eyes": eyes},
               os.path.join(run, "final.pt"))
    log(step=step, done=1, **{f"mae_{k}": float(v) for k, v in zip(PROBE_TARGETS, err)}, **eyes)


def eyelid_check(probe: Probe, held: Shards, device: torch.device, n: int = 256) -> dict[str, float]:
    """On held-out frames drawn with focus (many closed eyes): the share of closed eyes (both lids >= 0.8) read
    as closed (mean eyelid reading > 0.5), and of open eyes (<= 0.2) read as open."""
    with torch.no_grad():
        frames, coeffs, _, _ = held.windows(n, 1)
        read = probe(to_unit(frames[:, 0]).to(device))[:, 4:6].mean(1).cpu().numpy()
    lids = coeffs[:, 0, 18:20]
    closed, opened = lids.min(1) >= 0.8, lids.max(1) <= 0.2
    return {"closed_read_closed": float((read[closed] > 0.5).mean()) if closed.any() else float("nan"),
            "open_read_open": float((read[opened] <= 0.5).mean()) if opened.any() else float("nan"),
            "closed_frames": int(closed.sum())}


if __name__ == "__main__":
    main()
