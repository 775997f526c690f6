"""Says whether a newly measured flap-mini may replace the shipped one: only when it is no worse on any metric
that both measured (training accumulates; a round never ships a regression). Every key counts, a metric
that already meets its target (issue 12's, TARGETS) too: "no worse on any key" has no exemptions, so a round
that trades a met target for gains elsewhere is refused and kept as a candidate instead.

  /usr/bin/python3 weights-tools/train/compare.py NEW.json SHIPPED.json

Exits 0 when NEW may ship, 1 (listing every metric that got worse) when it may not.
"""

from __future__ import annotations

import json
import sys

# Which way is better for each metric (metrics.json keys, train/evaluate.py).
HIGHER = {"psnr", "ssim", "psnrGainOverCopyBaseline", "jawCorrelationProbe", "blinkRecall", "jawCorrelationAudio"}
LOWER = {"poseErrorDeg", "colourShift", "blinkFalsePerMinute", "driftDb", "flicker", "estimatorPoseErrorDeg"}
# What the model must reach (issue 12's "Done when"): key → (target, higher is better).
TARGETS = {
    "psnr": (24.0, True), "ssim": (0.85, True), "psnrGainOverCopyBaseline": (4.0, True), "poseErrorDeg": (2.0, False),
    "blinkRecall": (0.95, True), "blinkFalsePerMinute": (0.0, False), "jawCorrelationAudio": (0.8, True),
    "jawCorrelationProbe": (0.8, True), "driftDb": (1.0, False), "flicker": (2.0, False),
    "estimatorPoseErrorDeg": (2.0, False),
}


def worse(new: dict, old: dict) -> list[str]:
    """Metrics on which `new` is worse than `old`, as readable lines; unknown numeric keys are refused too."""
    out = []
    for key in sorted(set(new) & set(old)):
        a, b = new[key], old[key]
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            continue
        if key not in HIGHER and key not in LOWER:
            out.append(f"{key}: no known direction (add it to compare.py)")
        elif (key in HIGHER and a < b) or (key in LOWER and a > b):
            out.append(f"{key}: {a:.4g} (shipped {b:.4g})")
    return out


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    new, old = (json.load(open(p, encoding="utf-8")) for p in sys.argv[1:])
    bad = worse(new, old)
    for line in bad:
        print(f"worse: {line}")
    print("may ship" if not bad else f"refused: worse on {len(bad)} metric(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
