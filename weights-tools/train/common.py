"""Resumable, time-budgeted training loops: checkpoints hold the model, the optimiser, the step, the RNG states
and the elapsed time, written atomically so a killed run loses at most one checkpoint interval.

Every script also runs under torchrun (`torchrun --nproc_per_node N train/unet.py …`, any number of machines) with
DistributedDataParallel, through `Distributed` below and nothing else: in one process each of its methods is the
identity, so a plain run computes exactly what it did before it existed. Under torchrun every process draws the
same random global batch (same seeds, same RNG states, restored from the same checkpoint) and computes only its
slice of it; DDP averages the gradients, so N processes with `--batch B` take the steps one process takes with
`--batch B` (up to floating-point summation order), whatever N is. Only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
RUNS = os.environ.get("FLAP_RUNS", os.path.join(TOOLS, ".runs"))
sys.path.insert(0, TOOLS)


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def is_main() -> bool:
    """Rank 0 of a torchrun job, or the only process."""
    return not torch_dist.is_initialized() or torch_dist.get_rank() == 0


def save_checkpoint(path: str, **state) -> None:
    if not is_main():
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    state["rng"] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def save_final(obj: dict, path: str) -> None:
    """A run's result (final.pt), written by rank 0 only."""
    if is_main():
        torch.save(obj, path)


def load_checkpoint(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    state = torch.load(path, map_location="cpu")
    rng = state.pop("rng", None)
    if rng is not None:
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
    return state


class Log:
    """Appends one JSON line per report to <run>/log.jsonl and echoes a short line to stdout."""

    def __init__(self, run_dir: str):
        os.makedirs(run_dir, exist_ok=True)
        self.path = os.path.join(run_dir, "log.jsonl")

    def __call__(self, **row) -> None:
        if not is_main():
            return
        row["time"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)


class Budget:
    """A training budget in minutes of this process's CPU time divided by its torch threads: the wall-clock time
    the run would take with the machine to itself. Measured that way, a run gets the same amount of training
    whatever else the machine is doing (tests, benchmarks, a second trainer on 2 cores stretched one stage's
    steps from 4 s to 33 s of wall time), and a paused process (SIGSTOP) uses none of it. `elapsed` carries the
    time of earlier runs over resumptions."""

    def __init__(self, minutes: float, elapsed: float = 0.0, threads: int | None = None):
        self.limit = minutes * 60
        self.threads = threads or torch.get_num_threads()
        self.start = time.process_time() / self.threads - elapsed

    @property
    def elapsed(self) -> float:
        return time.process_time() / self.threads - self.start

    def done(self) -> bool:
        return self.elapsed >= self.limit

    def lr_factor(self, tail: float = 0.25, floor: float = 0.1) -> float:
        """1 until the last `tail` of the budget, then a linear fall to `floor`: short runs end on a low rate,
        which removes most of the step noise from the final weights."""
        left = max(0.0, 1.0 - self.elapsed / self.limit)
        return max(floor, min(1.0, left / tail))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def to_unit(frames_uint8: np.ndarray) -> torch.Tensor:
    """uint8 [..., H, W, 3] → float [..., 3, H, W] in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames_uint8)).float().div_(127.5).sub_(1)
    return x.movedim(-1, -3).contiguous()


def add_run_arguments(ap) -> None:
    """The options every training script shares for where and how long it runs."""
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: the time budget only)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (under torchrun: one GPU per process)")


class Step(nn.Module):
    """A training step's forward pass as one call of one module, `loss(model, *args)`: DistributedDataParallel
    averages the gradients of what runs inside its wrapper's forward."""

    def __init__(self, model: nn.Module, loss):
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, *args, **kwargs):
        return self.loss(self.model, *args, **kwargs)


class Distributed:
    """The process group of a torchrun job (WORLD_SIZE, RANK, LOCAL_RANK and the rendezvous in the environment;
    gloo on CPUs, nccl on GPUs) and the device of this process; in one process every method is the identity.

    The data contract: a global batch of `n` items is split into contiguous slices, rank r taking `part(n)`;
    random numbers of the batch are drawn for all `n` items on every rank and sliced (`shard`), so the numbers an
    item sees do not depend on the number of processes."""

    def __init__(self, device: str = "cpu"):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world > 1 and not torch_dist.is_initialized():
            torch_dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def keep_going(self, budget: Budget, step: int, steps: int = 0) -> bool:
        """Until the time budget is spent or `steps` steps are done (0: no step limit), decided by all ranks
        together (one rank's clock must not stop it alone)."""
        return not self.any(budget.done() or 0 < steps <= step)

    def step(self, model: nn.Module, loss, find_unused: bool = True) -> nn.Module:
        """`Step(model, loss)` on this device, wrapped in DDP when there are several processes. Parameters that do
        not reach a step's loss (frozen parts, the ReferenceNet's last layers) are allowed (`find_unused`)."""
        step = Step(model.to(self.device), loss)
        if self.world == 1:
            return step
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(step, device_ids=ids, find_unused_parameters=find_unused)

    def part(self, n: int) -> slice:
        """This rank's slice of a global batch of n items."""
        if n % self.world:
            raise ValueError(f"a global batch of {n} does not split over {self.world} processes")
        k = n // self.world
        return slice(self.rank * k, (self.rank + 1) * k)

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's slice (dim 0) of a tensor drawn for the whole global batch, on this device."""
        return x[self.part(x.shape[0])].to(self.device)

    def like(self, local: torch.Tensor, draw=torch.randn_like) -> torch.Tensor:
        """`draw(t)` (torch.randn_like, …) for the global batch whose slice on this rank is `local` (dim 0), sliced
        back. The global tensor has local's memory layout, as `*_like` keeps it (the latents of a conv are often
        channels-last), so the numbers are those one process drawing for the whole batch gets."""
        if self.world == 1 and local.device.type == "cpu":
            return draw(local)
        # drawn on the CPU's generator whatever the device, like every other random number of a batch here
        shape = (local.shape[0] * self.world, *local.shape[1:])
        order = sorted(range(local.dim()), key=lambda d: local.stride(d))
        expect, dense = 1, True
        for d in order:
            dense = dense and (local.shape[d] == 1 or local.stride(d) == expect)
            expect *= local.shape[d]
        if dense:   # empty_like keeps the strides of a dense tensor; for others it picks a contiguous layout
            strides, size = [0] * local.dim(), 1
            for d in order:
                strides[d] = size
                size *= shape[d]
            whole = torch.empty_strided(shape, strides, dtype=local.dtype, device="cpu")
        else:
            whole = torch.empty(shape, dtype=local.dtype, device="cpu")
        return draw(whole)[self.part(shape[0])].to(self.device)

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on any (to stop or skip together)."""
        if self.world == 1:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def same(self, value: float) -> float:
        """Rank 0's value everywhere (the time-based learning rate, which must not differ between replicas)."""
        if self.world == 1:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        torch_dist.broadcast(t, 0)
        return float(t.item())

    def mean(self, value: float) -> float:
        """The mean of a per-rank number over the ranks (for logs)."""
        if self.world == 1:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(t)
        return float(t.item()) / self.world

    def batch_mean(self, x: torch.Tensor) -> torch.Tensor:
        """x.mean() over the whole global batch (every rank holds an equal slice), differentiable."""
        if self.world == 1:
            return x.mean()
        from torch.distributed.nn.functional import all_reduce
        return all_reduce(x.sum()) / (x.numel() * self.world)

    def batch_std(self, x: torch.Tensor) -> torch.Tensor:
        """x.std() (unbiased) over the whole global batch, differentiable."""
        if self.world == 1:
            return x.std()
        from torch.distributed.nn.functional import all_reduce
        n = x.numel() * self.world
        mean = all_reduce(x.sum()) / n
        return (all_reduce((x - mean).pow(2).sum()) / (n - 1)).sqrt()
