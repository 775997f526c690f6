"""Resumable, time-budgeted training loops: checkpoints hold the model, the optimiser, the step, the RNG states
and the elapsed time, written atomically so a killed run loses at most one checkpoint interval."""

from __future__ import annotations

import json
import os
import random
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
RUNS = os.environ.get("FLAP_RUNS", os.path.join(TOOLS, ".runs"))
sys.path.insert(0, TOOLS)


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_checkpoint(path: str, **state) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    state["rng"] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


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
