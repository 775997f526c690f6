#!/usr/bin/env bash
# Trains flap-mini stage after stage (each resumes from its checkpoint; a finished stage is skipped), then
# exports and evaluates. Minutes per stage (cumulative over resumptions) can be overridden: PROBE=10 AE=50 POSE=40
# EXPR=20 VIDEO=12 AUDIO=7; SHARDS=20 training shards; INIT=path/final.pt warm-starts the pose stage.
set -euo pipefail
cd "$(dirname "$0")"
PY=/usr/bin/python3
run() { local dir=$1; shift; [ -f "../.runs/$dir/final.pt" ] && [ "${FORCE:-0}" != 1 ] && { echo "skip $dir (done)"; return; }; "$PY" "$@"; }
run probe probe.py --minutes "${PROBE:-10}"
run autoencoder autoencoder.py --minutes "${AE:-50}" --shards "${SHARDS:-20}"
run unet-pose unet.py --stage pose --minutes "${POSE:-40}" --shards "${SHARDS:-20}" ${INIT:+--init "$INIT"}
run unet-expression unet.py --stage expression --minutes "${EXPR:-20}" --shards "${SHARDS:-20}"
run unet-video unet.py --stage video --minutes "${VIDEO:-12}" --shards "${SHARDS:-20}"
run audio audio.py --minutes "${AUDIO:-7}"
[ -f ../.data/head_asset.safetensors ] || "$PY" ../world/export_asset.py --half  # f16 bases: 11 MB instead of 21
"$PY" export.py
"$PY" evaluate.py --clips "${EVAL_CLIPS:-8}"
"$PY" parity.py  # golden outputs of the shipped model for tests/models/mini.cases.ts and tests/render
"$PY" model_card.py
