#!/usr/bin/env bash
# Trains flap-mini stage after stage (each resumes from its checkpoint; a finished stage is skipped), then
# exports and evaluates. Minutes per stage can be overridden: AE=40 POSE=60 EXPR=40 VIDEO=40 AUDIO=30 PROBE=20.
set -euo pipefail
cd "$(dirname "$0")"
PY=/usr/bin/python3
run() { local dir=$1; shift; [ -f "../.runs/$dir/final.pt" ] && [ "${FORCE:-0}" != 1 ] && { echo "skip $dir (done)"; return; }; "$PY" "$@"; }
run probe probe.py --minutes "${PROBE:-20}"
run autoencoder autoencoder.py --minutes "${AE:-40}" --shards "${SHARDS:-6}"
run unet-pose unet.py --stage pose --minutes "${POSE:-60}" --shards "${SHARDS:-6}"
run unet-expression unet.py --stage expression --minutes "${EXPR:-40}" --shards "${SHARDS:-6}"
run unet-video unet.py --stage video --minutes "${VIDEO:-40}" --shards "${SHARDS:-6}"
run audio audio.py --minutes "${AUDIO:-30}"
[ -f ../.data/head_asset.safetensors ] || "$PY" ../world/export_asset.py --half  # f16 bases: 11 MB instead of 21
"$PY" export.py
"$PY" evaluate.py --clips "${EVAL_CLIPS:-8}"
"$PY" parity.py  # golden outputs of the shipped model for tests/models/mini.cases.ts and tests/render
"$PY" model_card.py
