"""Training budgets (train/common.py): CPU time of the process per torch thread, carried over resumptions."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "train"))

import common  # noqa: E402


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_budget_counts_cpu_time_per_thread_and_earlier_runs(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(common.time, "process_time", clock)
    budget = common.Budget(minutes=1, elapsed=20.0, threads=2)   # 20 s from an earlier run
    for _ in range(5):                                           # five steps of 3 s on both threads
        clock.now += 6
        assert not budget.done()
    assert abs(budget.elapsed - 35.0) < 1e-9
    # Waiting (another process has the cores, or SIGSTOP) uses no CPU time: nothing is counted.
    assert not budget.done() and abs(budget.elapsed - 35.0) < 1e-9
    clock.now += 50
    assert budget.done() and abs(budget.elapsed - 60.0) < 1e-9


def test_lr_factor_is_one_then_falls_linearly_over_the_last_quarter(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(common.time, "process_time", clock)
    budget = common.Budget(minutes=1, threads=1)
    for seconds, factor in ((30, 1.0), (45, 1.0), (52.5, 0.5), (59.7, 0.1), (60, 0.1)):
        budget.start = clock.now - seconds
        assert abs(budget.lr_factor() - factor) < 1e-9, seconds
