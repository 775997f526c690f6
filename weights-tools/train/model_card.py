"""Writes models/flap-mini/README.md, the model card, from what the runs and the evaluation recorded: the data set
on disk, each stage's steps, minutes and last logged loss (weights-tools/.runs/*/log.jsonl), metrics.json, and
the sample video's settings (`--sample "description"`). Nothing in it is typed by hand except the limits.

  /usr/bin/python3 weights-tools/train/model_card.py [--sample "talk.webm: ... "]
"""

from __future__ import annotations

import argparse
import glob
import json
import os

from common import RUNS, TOOLS
from compare import TARGETS

ROOT = os.path.dirname(TOOLS)
OUT = os.path.join(ROOT, "models", "flap-mini")
STAGES = [
    ("probe", "coefficient probe (pose, jaw, eyelids, named expressions from a frame)"),
    ("autoencoder", "tiny autoencoder (8x down, 4 latent channels)"),
    ("unet-pose", "head-motion stage: ReferenceNet + UNet, pose attention, single images"),
    ("unet-expression", "expression stage: expression attention, pose attention frozen"),
    ("unet-video", "video stage: temporal modules on consecutive frames with motion frames"),
    ("audio", "audio encoder + audio-to-FLAME head"),
]


def entries(stage: str) -> list[dict]:
    path = os.path.join(RUNS, stage, "log.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def last_entries(stage: str) -> tuple[dict | None, dict | None]:
    """The last logged training step and the final ('done') entry of a run."""
    step = done = None
    for e in entries(stage):
        if e.get("done"):
            done = e
        elif "minutes" in e:
            step = e
    return step, done


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", default="", help="one line describing the sample video and its settings")
    args = ap.parse_args()
    with open(os.path.join(OUT, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    shards = {s: sorted(glob.glob(os.path.join(TOOLS, ".data", "dataset", f"{s}-*.npz"))) for s in ("train", "heldout")}
    files = {n: os.path.getsize(os.path.join(OUT, n)) for n in sorted(os.listdir(OUT)) if n != "README.md"}
    rounds_path = os.path.join(OUT, "rounds.json")
    rounds = json.load(open(rounds_path, encoding="utf-8")) if os.path.exists(rounds_path) else []

    lines = ["# flap-mini", "",
             "A small FLAP model (128x128 frames, 8 frames per clip with 2 motion frames, `config.json`) trained on CPU",
             "on the procedural head world of `weights-tools/world`, to make the demo and the command line animate a",
             "face out of the box and to measure the controls. Training accumulates: each round starts from the",
             "shipped weights and replaces them only when it is no worse on any metric (`train/ship.py`). With a",
             "geometry guide in its config (`unet.guide`) it also draws `head_asset.safetensors`, posed by every",
             "frame's coefficients, as a part-label image the UNet and ReferenceNet see beside the coefficient tokens.", "",
             "## Files", "", "| file | bytes |", "|---|---|"]
    lines += [f"| `{n}` | {b:,} |" for n, b in files.items()]
    lines += [f"| total | {sum(files.values()):,} |", "",
              "## Data", "",
              f"Rendered by `weights-tools/make_dataset.py`; {len(shards['train'])} training shards and "
              f"{len(shards['heldout'])} held-out shards of 50 identities each were on disk when this card was written "
              "(a stage trains on the shards present when it starts; identity, voice and text seeds of the",
              "held-out set are disjoint from training), 16-frame clips at 25 fps of procedural heads driven by",
              "espeak-ng speech (mouth from phoneme timing), smooth random head motion and blinks.", "",
              "## Training", "",
              "Each stage is time-budgeted, seeded and resumable (`weights-tools/train/run_all.sh`). The table is this",
              "round's runs on the machine that wrote the card (earlier rounds are in `rounds.json` and below).", "",
              "| stage | what | steps | minutes | last logged loss |", "|---|---|---|---|---|"]
    for stage, what in STAGES:
        step, _ = last_entries(stage)
        if step is None:
            lines.append(f"| {stage} | {what} | not run | | |")
        else:
            lines.append(f"| {stage} | {what} | {step['step']} | {step['minutes']:.0f} | {step.get('loss', float('nan')):.4f} |")
    for previous, (stage, _) in zip([None] + [s for s, _ in STAGES], STAGES):
        for e in entries(stage):
            if e.get("init") == "models/flap-mini":
                fresh = e.get("fresh", "none")
                lines += ["", f"`{stage}` started from the shipped model" + ("" if fresh == "none" else f" (new, initialised: `{fresh}`)") + "."]
            elif "init" in e and e["init"] != f"{previous}/final.pt":  # not just the previous stage's weights
                lines += ["", f"`{stage}` started from the weights of an earlier run (`{e['init']}`, {e['init_step']} steps)."]
    _, probe = last_entries("probe")
    if probe:
        lines += ["", f"Probe accuracy on held-out renders: yaw {probe['mae_yaw']:.1f}°, pitch {probe['mae_pitch']:.1f}°, "
                      f"roll {probe['mae_roll']:.1f}° mean absolute error; jaw {probe['mae_jaw']:.3f} rad; eyelids "
                      f"{(probe['mae_eyelid_left'] + probe['mae_eyelid_right']) / 2:.3f}."]
    settings = metrics.get("settings", {})
    lines += ["", "## Measured on held-out identities and speech (`metrics.json`, `weights-tools/train/evaluate.py`)", "",
              f"Sampler {settings.get('sampler')}, {settings.get('steps')} steps, guidance {settings.get('guidance')}, "
              f"{settings.get('clips')} clips.", "", "| metric | value | target | met |", "|---|---|---|---|"]
    for key, value in metrics.items():
        if key == "settings":
            continue
        target = TARGETS.get(key)
        if target is None or value is None:
            lines.append(f"| {key} | {value if value is None else f'{value:.3f}'} | | |")
            continue
        goal, higher = target
        met = value >= goal if higher else value <= goal
        lines.append(f"| {key} | {value:.3f} | {'≥' if higher else '≤'} {goal} | {'yes' if met else 'no'} |")
    if rounds:
        keys = [k for k in TARGETS if any(k in r["after"] for r in rounds)]
        lines += ["", "## Rounds", "", "Each shipped round, measured against the model it replaced by the same evaluator.", "",
                  "| round | date | " + " | ".join(keys) + " | note |", "|---|---|" + "---|" * len(keys) + "---|"]
        fmt = lambda v: "" if v is None else f"{v:.3g}"  # noqa: E731
        lines.append("| 0 (before) | | " + " | ".join(fmt(rounds[0]["before"].get(k)) for k in keys) + " | |")
        for r in rounds:
            lines.append(f"| {r['round']} | {r['date']} | " + " | ".join(fmt(r["after"].get(k)) for k in keys) + f" | {r['note']} |")
    if os.path.exists(os.path.join(OUT, "controls.png")):
        lines += ["", "## Controls", "", "![controls](controls.png)", "",
                  "`train/controls_sheet.py` on a held-out portrait: for each control (yaw and pitch sweeps −30°..30°, a blink,",
                  "the jaw opening and closing, a smile, a gaze shift) the generated frames, the guide they were",
                  "conditioned on, and the world's ground-truth render."]
    if args.sample:
        lines += ["", "## Sample", "", args.sample]
    unmet = [k for k, (goal, higher) in TARGETS.items()
             if isinstance(metrics.get(k), (int, float)) and not (metrics[k] >= goal if higher else metrics[k] <= goal)]
    lines += ["", "## Limits", "",
              "- Trained in rounds of about an hour and a half on 2 CPU cores; " + (
                  f"{len(unmet)} of the targets above are not met yet ({', '.join(f'`{k}`' for k in unmet)}). "
                  if unmet else "every target above is met. ") + "A round resumes and adds to the shipped weights "
              "(`weights-tools/train/run_all.sh`).",
              "- The geometry guide is the head asset's one (mean) identity posed by the coefficients: it tells the",
              "  model where the eyes, mouth and head are, not what the portrait's own face looks like.",
              "- Only the head world's look (flat-shaded procedural heads, gradient backgrounds): real photos are out",
              "  of distribution and come out as head-world faces at best.",
              "- 128x128 output; the audio head knows espeak-ng voices only.", ""]
    with open(os.path.join(OUT, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print(f"wrote {os.path.join(OUT, 'README.md')}")


if __name__ == "__main__":
    main()
