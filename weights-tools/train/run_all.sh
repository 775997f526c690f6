#!/usr/bin/env bash
# One training round of flap-mini that adds to the shipped model (every stage warm-starts from models/flap-mini):
# data (on every core; about 18 minutes for 8 shards on 2 cores, then the first training step), the UNet
# stages, the audio head, the probe, the shipped model measured by the current evaluator, export to
# .runs/candidate, its evaluation, and ship.py, which replaces models/flap-mini only when
# the candidate is no worse on any metric; a shipped round then rewrites the parity fixtures and the model card.
# Each step resumes (a finished one is skipped), so a killed round continues where it stopped.
#
# Minutes per stage (cumulative over resumptions): PROBE=10 AE=0 POSE=30 EXPR=15 VIDEO=10 AUDIO=0 (0 skips the
# stage and keeps the shipped part); TRAIN_IDS=300 training identities (6 shards of 50); JOBS=2 data processes;
# EVAL_CLIPS=8; NOTE="what this round changed" for models/flap-mini/rounds.json.
set -euo pipefail
cd "$(dirname "$0")"
PY=/usr/bin/python3
RUNS=${FLAP_RUNS:-../.runs}
run() { local dir=$1 minutes=$2; shift 2; [ "$minutes" = 0 ] && { echo "skip $dir (0 minutes)"; return; }
        [ -f "$RUNS/$dir/final.pt" ] && [ "${FORCE:-0}" != 1 ] && { echo "skip $dir (done)"; return; }; "$PY" "$@"; }

jobs=${JOBS:-2}
for k in $(seq 0 $((jobs - 1))); do
  "$PY" ../make_dataset.py --train "${TRAIN_IDS:-300}" --part "$k/$jobs" &
done
wait
shards=$(( (${TRAIN_IDS:-300} + 49) / 50 ))
run autoencoder "${AE:-0}" autoencoder.py --minutes "${AE:-0}" --shards "$shards"
run unet-pose "${POSE:-30}" unet.py --stage pose --minutes "${POSE:-30}" --shards "$shards"
run unet-expression "${EXPR:-15}" unet.py --stage expression --minutes "${EXPR:-15}" --shards "$shards"
run unet-video "${VIDEO:-10}" unet.py --stage video --minutes "${VIDEO:-10}" --shards "$shards"
run audio "${AUDIO:-0}" audio.py --minutes "${AUDIO:-0}"
run probe "${PROBE:-10}" probe.py --minutes "${PROBE:-10}" --shards "$shards"
[ -f "$RUNS/shipped-metrics.json" ] || "$PY" evaluate.py --model ../../models/flap-mini --out "$RUNS/shipped-metrics.json" --clips "${EVAL_CLIPS:-8}"
"$PY" export.py
"$PY" evaluate.py --clips "${EVAL_CLIPS:-8}"
if "$PY" ship.py --note "${NOTE:-}"; then
  "$PY" parity.py   # golden outputs of the newly shipped model for tests/models/mini.cases.ts and tests/render
  "$PY" model_card.py
fi
