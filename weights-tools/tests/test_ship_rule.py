"""The shipping rule (train/compare.py): a candidate replaces the shipped flap-mini only when no metric that both
measured got worse, each judged in its own direction."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "train"))

from compare import worse  # noqa: E402

SHIPPED = {"psnr": 18.7, "poseErrorDeg": 10.1, "blinkFalsePerMinute": 0.0, "jawCorrelationAudio": 0.58,
           "settings": {"steps": 8}}


def test_better_or_equal_everywhere_ships():
    assert worse({"psnr": 22.0, "poseErrorDeg": 4.0, "blinkFalsePerMinute": 0.0, "jawCorrelationAudio": 0.58,
                  "driftDb": 0.5}, SHIPPED) == []


def test_one_regression_refuses_and_names_it():
    bad = worse({"psnr": 25.0, "poseErrorDeg": 2.0, "blinkFalsePerMinute": 1.2, "jawCorrelationAudio": 0.9}, SHIPPED)
    assert len(bad) == 1 and bad[0].startswith("blinkFalsePerMinute")
    bad = worse({"psnr": 18.6, "poseErrorDeg": 2.0, "blinkFalsePerMinute": 0.0, "jawCorrelationAudio": 0.9}, SHIPPED)
    assert len(bad) == 1 and bad[0].startswith("psnr")


def test_a_move_the_wrong_way_counts_even_within_the_target():
    shipped = {"driftDb": -0.1, "jawCorrelationProbe": 0.905, "psnr": 18.7}
    # drift ≤ 1 dB and probe jaw ≥ 0.8 are met either way, and still no key may get worse.
    assert worse({"driftDb": 0.4, "jawCorrelationProbe": 0.905, "psnr": 22.0}, shipped)[0].startswith("driftDb")
    assert worse({"driftDb": -0.1, "jawCorrelationProbe": 0.900, "psnr": 22.0}, shipped)[0].startswith("jawCorrelationProbe")


def test_a_metric_without_a_direction_is_refused():
    assert worse({"newMetric": 1.0}, {"newMetric": 2.0}) == ["newMetric: no known direction (add it to compare.py)"]
