"""Training budgets (train/common.py): wall-clock minutes that carry over resumptions and skip pauses."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "train"))

import common  # noqa: E402


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_budget_counts_steps_and_earlier_runs_but_not_a_pause(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(common.time, "time", clock)
    budget = common.Budget(minutes=1, elapsed=20.0)      # 20 s from an earlier run
    for _ in range(5):                                    # five 3-second steps
        clock.now += 3
        assert not budget.done()
    assert abs(budget.elapsed - 35.0) < 1e-9
    clock.now += 600                                      # stopped (SIGSTOP) for ten minutes
    assert not budget.done()
    assert abs(budget.elapsed - 35.0) < 1e-9
    clock.now += 30
    assert budget.done() and abs(budget.elapsed - 65.0) < 1e-9


def test_lr_factor_is_one_then_falls_linearly_over_the_last_quarter(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(common.time, "time", clock)
    budget = common.Budget(minutes=1)
    for seconds, factor in ((30, 1.0), (45, 1.0), (52.5, 0.5), (59.7, 0.1), (60, 0.1)):
        budget.start = clock.now - seconds
        assert abs(budget.lr_factor() - factor) < 1e-9, seconds
