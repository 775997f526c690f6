"""Replaces models/flap-mini with the exported candidate (.runs/candidate) only if the candidate is no worse on
any metric than the shipped model measured by the same evaluator (compare.py); otherwise refuses and leaves
models/flap-mini as it was. Each shipped round is appended to models/flap-mini/rounds.json with both sets of
figures, so the model card can show the trend.

  /usr/bin/python3 weights-tools/train/evaluate.py --model models/flap-mini --out .runs/shipped-metrics.json
  /usr/bin/python3 weights-tools/train/evaluate.py                     # the candidate
  /usr/bin/python3 weights-tools/train/ship.py [--note "what this round changed"]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

from common import RUNS
from compare import worse
from export import CANDIDATE
from shipped import SHIPPED

FILES = ("config.json", "weights.safetensors", "head_asset.safetensors", "metrics.json")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidate", default=CANDIDATE)
    ap.add_argument("--baseline", default=os.path.join(RUNS, "shipped-metrics.json"),
                    help="the shipped model's metrics measured by the current evaluator")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    with open(os.path.join(args.candidate, "metrics.json"), encoding="utf-8") as f:
        new = json.load(f)
    with open(args.baseline, encoding="utf-8") as f:
        old = json.load(f)
    bad = worse(new, old)
    for line in bad:
        print(f"worse: {line}")
    if bad:
        print(f"refused: the candidate is worse on {len(bad)} metric(s); models/flap-mini is unchanged")
        return 1
    history_path = os.path.join(SHIPPED, "rounds.json")
    history = json.load(open(history_path, encoding="utf-8")) if os.path.exists(history_path) else []
    for name in FILES:
        tmp = os.path.join(SHIPPED, name + ".tmp")
        shutil.copyfile(os.path.join(args.candidate, name), tmp)
        os.replace(tmp, os.path.join(SHIPPED, name))
    history.append({"round": len(history) + 1, "date": time.strftime("%Y-%m-%d"), "note": args.note,
                    "before": {k: v for k, v in old.items() if k != "settings"},
                    "after": {k: v for k, v in new.items() if k != "settings"}})
    with open(history_path, "w", encoding="utf-8") as f:
        json.dump(history, f, indent=2)
        f.write("\n")
    print(f"shipped round {len(history)} to {SHIPPED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
