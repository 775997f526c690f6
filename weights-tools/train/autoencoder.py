"""Stage 0: the small conv autoencoder of flap-mini (config `autoencoder`, type tiny) on world frames.

  /usr/bin/python3 weights-tools/train/autoencoder.py --minutes 40 [--batch 16] [--shards 6] [--crop 64]

Loss: L1 + MSE of the reconstruction, plus a small pull of the latents toward unit scale (so the diffusion
model sees latents of about unit variance); the decoder also learns from slightly noised latents, because it
will decode the diffusion model's imperfect ones. Resumes from .runs/autoencoder/checkpoint.pt.
At the end it measures the latent standard deviation on held-out frames and stores 1/std as the
scaling factor the pipeline uses. The autoencoder is convolutional only, so it trains on random crops
(`--crop`, on the 8-pixel latent grid): a 64×64 crop costs a quarter of a frame, and four times the samples per
minute matter more on a CPU than whole-frame context. The learning rate falls linearly over the budget's last
quarter.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F

from common import (RUNS, Budget, Distributed, Log, add_run_arguments, load_checkpoint, save_checkpoint, save_final,
                    seed_all, set_lr, to_unit)
from data import Shards
from flap_ref.config import load_config
from flap_ref.autoencoder import build_autoencoder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="mini")
    ap.add_argument("--minutes", type=float, default=40)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--shards", type=int, default=6)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--crop", type=int, default=64, help="training crop size, a multiple of 8 (0: whole frames)")
    ap.add_argument("--threads", type=int, default=2)
    add_run_arguments(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dist = Distributed(args.device)
    run = os.path.join(RUNS, "autoencoder")
    ckpt_path = os.path.join(run, "checkpoint.pt")
    cfg = load_config(args.config)
    seed_all(1)
    model = build_autoencoder(cfg["autoencoder"]).to(dist.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    state = load_checkpoint(ckpt_path)
    step, elapsed = 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["elapsed"]
        print(f"resumed at step {step}, {elapsed / 60:.1f} min")
    data = Shards("train", args.shards, seed=step + 11)
    log = Log(run)
    budget = Budget(args.minutes, elapsed)
    last_save = budget.elapsed
    model.train()
    rng = torch.Generator().manual_seed(step + 13)

    def loss_of(model, x):
        z = model.encode(x)
        z_noisy = z + 0.05 * dist.like(z)
        y = model.decode(z_noisy)
        rec = F.l1_loss(y, x) + F.mse_loss(y, x)
        # the latent scale is a statistic of the whole (global) batch
        scale = (dist.batch_mean(z.pow(2)) - 1).clamp_min(0) * 1e-2 + (1 - dist.batch_std(z)).clamp_min(0) * 1e-2
        return rec + scale, z.detach(), y.detach()

    train_step = dist.step(model, loss_of, find_unused=False)
    while dist.keep_going(budget, step, args.steps):
        set_lr(opt, args.lr * dist.same(budget.lr_factor()))
        x = to_unit(data.frames(args.batch, dist.part(args.batch))).to(dist.device)
        if args.crop:
            cells = (x.shape[-1] - args.crop) // 8 + 1
            i, j = (torch.randint(0, cells, (2,), generator=rng) * 8).tolist()
            x = x[..., i:i + args.crop, j:j + args.crop]
        loss, z, y = train_step(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 25 == 0:
            psnr = float(-10 * torch.log10(F.mse_loss(y.clamp(-1, 1), x) / 4))
            log(step=step, loss=dist.mean(float(loss)), psnr=dist.mean(psnr), z_std=float(dist.batch_std(z)),
                minutes=budget.elapsed / 60)
        if budget.elapsed - last_save > 300:
            save_checkpoint(ckpt_path, model=model.state_dict(), opt=opt.state_dict(), step=step,
                            elapsed=budget.elapsed)
            last_save = budget.elapsed
    save_checkpoint(ckpt_path, model=model.state_dict(), opt=opt.state_dict(), step=step, elapsed=budget.elapsed)
    model.eval()
    held = Shards("heldout", 1, seed=5)
    with torch.no_grad():
        x = to_unit(held.frames(64)).to(dist.device)
        z = model.encode(x)
        y = model.decode(z)
        psnr = float(-10 * torch.log10(F.mse_loss(y.clamp(-1, 1), x) / 4))
    save_final({"model": model.state_dict(), "latent_std": float(z.std()), "heldout_psnr": psnr, "step": step},
               os.path.join(run, "final.pt"))
    log(step=step, heldout_psnr=psnr, latent_std=float(z.std()), done=1)


if __name__ == "__main__":
    main()
