"""FLAP's progressively focused stages for flap-mini's diffusion part (coefficient encoder, ReferenceNet, UNet and,
with `unet.guide` in the config, their geometry-guide encoders):

  pose        single frames; pose tokens and the reference only (expression tokens null); motion modules,
              the expression attention and the expression MLP are not trained
  expression  single frames with expression tokens; the pose attention (attn2, norm2) and the pose MLP frozen
  video       windows of motion_frames + frames_per_clip consecutive frames; the first M are motion frames
              (sometimes the reference latent repeated, as in a video's first clip), noised a little so that
              the model does not copy its own errors forward from clip to clip; loss on the last F; only the
              motion modules train

  /usr/bin/python3 weights-tools/train/unet.py --stage pose --minutes 60

Each stage starts from the latest earlier stage's final weights; the first (or one whose earlier stages were
skipped) from `--init` if given, else from the shipped models/flap-mini (train/shipped.py), so every round adds
to the last. A stage resumes from its own
checkpoint. ε-prediction, MSE with min-SNR-5 weights and, with a guide, more weight on the eyes and the mouth
(Gaussian blobs around their projected centres); frames with closed eyes, an open jaw or a turned head are drawn
more often (data.focus_weights); timesteps uniform in [0, 1000); conditions (tokens and guide) dropped with
probability 0.1 for guidance; the learning rate falls linearly over the budget's last quarter. The autoencoder
(frozen) is .runs/autoencoder/final.pt when trained, else the shipped one."""

from __future__ import annotations

import argparse
import os

import torch

from common import (RUNS, Budget, Distributed, Log, add_run_arguments, load_checkpoint, save_checkpoint, save_final,
                    seed_all, set_lr, to_unit)
from data import Shards
from flap_ref import schedulers
from flap_ref.coeff_encoder import CoeffEncoder
from flap_ref.config import latent_size, load_config
from flap_ref.autoencoder import build_autoencoder
from flap_ref.guide import GuideRenderer
from flap_ref.reference_net import ReferenceNet
from flap_ref.unet import UNet
from flap_ref.unet_blocks import Context
from shipped import ASSET, START_LABEL, part, shipped_config, shipped_state

STAGES = ("pose", "expression", "video")


def trainable(stage: str, name: str, freeze_reference: bool = False) -> bool:
    if freeze_reference and name.startswith("reference_net."):
        return False
    if stage == "video":
        return "motion_modules" in name
    if "motion_modules" in name:
        return False
    if "guide_encoder" in name:
        return True
    if stage == "pose":
        return not ("attn_expr" in name or "norm_expr" in name or name.startswith("coeff_encoder.expr"))
    return not (".attn2." in name or ".norm2." in name or name.startswith("coeff_encoder.pose"))


class Parts(torch.nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.coeff_encoder = CoeffEncoder(cfg["coeff_encoder"])
        self.reference_net = ReferenceNet(cfg["unet"])
        self.unet = UNet(cfg["unet"], temporal=True)


def load_autoencoder(cfg: dict):
    """The frozen autoencoder and the latent scale: the trained run's, else the shipped model's."""
    ae = build_autoencoder(cfg["autoencoder"])
    path = os.path.join(RUNS, "autoencoder", "final.pt")
    if os.path.exists(path):
        final = torch.load(path, map_location="cpu")
        ae.load_state_dict(final["model"])
        scale = 1.0 / final["latent_std"]
    else:
        ae.load_state_dict(part(shipped_state(cfg)[0], "autoencoder"))
        scale = shipped_config()["autoencoder"]["scaling_factor"]
    ae.eval().requires_grad_(False)
    return ae, scale


def region_weights(renderer: GuideRenderer, coeffs: torch.Tensor, size: tuple[int, int],
                   mouth_gain: float = 3.0) -> torch.Tensor:
    """[N, 120] → per-latent-pixel loss weights [N, 1, h, w]: 1 plus Gaussian blobs on the eyes (4) and the
    mouth (`mouth_gain`), where the controls show and which cover only a few latent pixels."""
    h, w = size
    centres = renderer.landmarks(coeffs) * (w / renderer.size)          # [N, 3, 2] in latent pixels
    yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    d2 = (xx - centres[..., 0, None, None]) ** 2 + (yy - centres[..., 1, None, None]) ** 2   # [N, 3, h, w]
    sigma = torch.tensor([1.0, 1.0, 1.5])[None, :, None, None]
    gain = torch.tensor([4.0, 4.0, mouth_gain])[None, :, None, None]
    return 1 + (gain * torch.exp(-d2 / (2 * sigma ** 2))).sum(1, keepdim=True)


def reference_guide(renderer: GuideRenderer, coeffs, memo: dict) -> torch.Tensor:
    """An identity's reference guide, drawn once (every window of an identity shares its reference)."""
    key = coeffs.tobytes()
    if key not in memo:
        memo[key] = renderer.render(coeffs[None])[0]
    return memo[key]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", choices=STAGES, required=True)
    ap.add_argument("--config", default="mini")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--init", help="final.pt whose weights a fresh stage starts from (instead of the previous stage's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--motion-noise", type=float, default=0.2, help="largest std of the noise on motion latents")
    ap.add_argument("--mouth-gain", type=float, default=3.0, help="peak extra loss weight on the mouth (eyes: 4)")
    ap.add_argument("--freeze-reference", action="store_true",
                    help="keep the ReferenceNet as it starts (an expression stage that trains it learns to copy the "
                         "portrait's mouth instead of following the guide's)")
    add_run_arguments(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dist = Distributed(args.device)
    dev = dist.device
    cfg = load_config(args.config)
    run = os.path.join(RUNS, f"unet-{args.stage}")
    ckpt_path = os.path.join(run, "checkpoint.pt")
    seed_all(100 + STAGES.index(args.stage))
    parts = Parts(cfg).to(dev)
    state = load_checkpoint(ckpt_path)
    # The latest earlier stage of this round that finished, else (first stage, or earlier ones skipped) the
    # shipped model.
    earlier = [os.path.join(RUNS, f"unet-{name}", "final.pt") for name in STAGES[:STAGES.index(args.stage)]]
    start = args.init or next((p for p in reversed(earlier) if os.path.exists(p)), None)
    log = Log(run)
    if state is None and start is not None:
        init = torch.load(start, map_location="cpu")
        parts.load_state_dict(init["model"])
        log(init=os.path.relpath(os.path.abspath(start), RUNS), init_step=init["step"])
    elif state is None:
        weights, fresh = shipped_state(cfg)
        mine = ("coeff_encoder", "reference_net", "unet")
        parts.load_state_dict({k: v for k, v in weights.items() if k.split(".")[0] in mine})
        fresh = sorted({".".join(k.split(".")[:2]) for k in fresh if k.split(".")[0] in mine})
        log(init=START_LABEL, fresh=",".join(fresh) or "none")
    if args.freeze_reference:
        log(frozen="reference_net")
    for name, p in parts.named_parameters():
        p.requires_grad_(trainable(args.stage, name, args.freeze_reference))
    params = [p for p in parts.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    step, elapsed = 0, 0.0
    if state is not None:
        parts.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["elapsed"]
        print(f"resumed {args.stage} at step {step}, {elapsed / 60:.1f} min")
    ae, latent_scale = load_autoencoder(cfg)
    ae = ae.to(dev)
    alphas = torch.tensor(schedulers.alphas_cumprod(cfg["scheduler"]), dtype=torch.float32).to(dev)
    m, f = cfg["video"]["motion_frames"], cfg["video"]["frames_per_clip"]
    length = m + f if args.stage == "video" else 1
    batch = max(1, args.batch // length) if args.stage == "video" else args.batch
    mine = dist.part(batch)             # this process's items of the global batch (all of them in one process)
    b = batch // dist.world
    data = Shards("train", args.shards, seed=step + 17, focus=True)
    renderer = GuideRenderer(ASSET, cfg["unet"]["guide"]) if "guide" in cfg["unet"] else None
    ref_guides: dict = {}
    budget = Budget(args.minutes, elapsed)
    last_save = budget.elapsed
    parts.train()

    def loss_of(parts, z, z_ref, coeffs_t, ref_coeffs):
        """The step's forward from clean latents to the loss; random numbers drawn for the global batch."""
        pose, expr = parts.coeff_encoder(coeffs_t.to(dev))
        pose, expr = pose.flatten(0, 1), expr.flatten(0, 1)     # [B·L, K, D]
        if args.stage == "pose":
            expr = torch.zeros_like(expr)
        drop = dist.shard(torch.rand(batch) < 0.1).repeat_interleave(length)[:, None, None]
        pose, expr = pose.masked_fill(drop, 0), expr.masked_fill(drop, 0)
        guide = ref_guide = None
        flat_coeffs = coeffs_t.flatten(0, 1)
        if renderer is not None:
            guide = renderer.render(flat_coeffs).to(dev).masked_fill(drop[:, :, :, None], 0)
            ref_guide = torch.stack([reference_guide(renderer, r, ref_guides) for r in ref_coeffs]).to(dev)
        ref_pose, ref_expr = parts.coeff_encoder(torch.from_numpy(ref_coeffs)[:, None].to(dev))
        ref_expr = torch.zeros_like(ref_expr[:, 0]) if args.stage == "pose" else ref_expr[:, 0]
        features = parts.reference_net(z_ref, ref_pose[:, 0], ref_expr, guide=ref_guide)
        t = dist.shard(torch.randint(0, alphas.shape[0], (batch,))).repeat_interleave(length)
        noise = dist.like(z)
        a = alphas[t][:, None, None, None]
        x = a.sqrt() * z + (1 - a).sqrt() * noise
        target_mask = torch.ones(b, length, dtype=torch.bool, device=dev)
        if args.stage == "video":
            x = x.view(b, length, *x.shape[1:])
            x[:, :m] = z.view(b, length, *z.shape[1:])[:, :m]   # motion frames stay clean
            x = x.flatten(0, 1)
            target_mask[:, :m] = False
        ctx = Context(pose, expr, frames=length, reference=features, guide=guide)
        eps = parts.unet(x, t, ctx)
        keep = target_mask.flatten()
        # Min-SNR-γ weighting (Hang et al. 2023, γ = 5): nearly clean timesteps, whose ε is hard to see and
        # matters little to the picture, stop dominating the gradient; it converges several times faster.
        snr = a / (1 - a)
        weight = (snr.clamp(max=5.0) / snr).flatten()
        err = (eps - noise).pow(2)
        if renderer is not None:
            regions = region_weights(renderer, flat_coeffs, latent_size(cfg), args.mouth_gain).to(dev)
            err = err * regions / regions.mean((2, 3), keepdim=True)   # focus, same mean weight per frame
        per_frame = err.flatten(1).mean(1)
        return (per_frame * weight)[keep].mean()

    # The ReferenceNet's last layers never reach the loss (only its attention inputs do): unused parameters, except
    # in the video stage, which trains the motion modules alone.
    train_step = dist.step(parts, loss_of, find_unused=args.stage != "video")
    while dist.keep_going(budget, step, args.steps):
        set_lr(opt, args.lr * dist.same(budget.lr_factor()))
        frames, coeffs, ref, ref_coeffs = data.windows(batch, length, mine)
        with torch.no_grad():
            z = ae.encode(to_unit(frames.reshape(-1, *frames.shape[2:])).to(dev)) * latent_scale
            z_ref = ae.encode(to_unit(ref).to(dev)) * latent_scale
        coeffs_t = torch.from_numpy(coeffs)                     # [b, L, 120]
        if args.stage == "video":
            z = z.view(b, length, *z.shape[1:]).clone()
            if torch.rand(()) < 0.3:
                # As in a video's first clip: the motion frames are the portrait itself.
                z[:, :m] = z_ref[:, None]
                coeffs_t[:, :m] = torch.from_numpy(ref_coeffs)[:, None]
            else:
                # Generated motion frames are imperfect: noised ones teach the model not to carry errors on.
                std = dist.shard(torch.rand(batch, 1, 1, 1, 1)) * args.motion_noise
                z[:, :m] = z[:, :m] + std * dist.like(z[:, :m])
            z = z.flatten(0, 1)
        loss = train_step(z, z_ref, coeffs_t, ref_coeffs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 10 == 0:
            log(step=step, loss=dist.mean(float(loss)), minutes=budget.elapsed / 60)
        if budget.elapsed - last_save > 300:
            save_checkpoint(ckpt_path, model=parts.state_dict(), opt=opt.state_dict(), step=step,
                            elapsed=budget.elapsed)
            last_save = budget.elapsed
    save_checkpoint(ckpt_path, model=parts.state_dict(), opt=opt.state_dict(), step=step, elapsed=budget.elapsed)
    save_final({"model": parts.state_dict(), "step": step, "latent_scale": latent_scale},
               os.path.join(run, "final.pt"))
    log(step=step, done=1)


if __name__ == "__main__":
    main()
