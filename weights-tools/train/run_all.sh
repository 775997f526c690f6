#!/usr/bin/env bash
# One training round of flap-mini that adds to the shipped model (every stage warm-starts from models/flap-mini):
# data (on every core; about 18 minutes for 8 shards on 2 cores, then the first training step), the UNet
# stages, the audio head, the probe, the shipped model measured by the current evaluator, export to
# .runs/candidate, its evaluation, and ship.py, which replaces models/flap-mini only when
# the candidate is no worse on any metric; a shipped round then rewrites the parity fixtures and the model card.
# Each step resumes (a finished one is skipped), so a killed round continues where it stopped; a round that ran
# to the end moves its runs aside, so the next one starts afresh.
#
# Minutes per stage (cumulative over resumptions): PROBE=10 AE=0 POSE=40 EXPR=20 VIDEO=12 AUDIO=20 (0 skips the
# stage and keeps the shipped part); TRAIN_IDS=300 training identities (6 shards of 50), SPEECH_IDS=3000
# speech-only utterances (made only when AUDIO is not 0); JOBS=2 data processes; FREEZE_REFERENCE=1 keeps the
# ReferenceNet fixed in the UNet stages (unet.py --freeze-reference); GUIDANCE=g the candidate's default guidance
# (export.py --guidance), with which evaluate.py samples it; EVAL_CLIPS=8; NOTE="what this round changed" for
# models/flap-mini/rounds.json.
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
# Speech-only utterances for the audio head (about 4 minutes on one core), beside the UNet's first stage.
speech=
if [ "${AUDIO:-20}" != 0 ]; then
  "$PY" ../make_dataset.py --train 0 --heldout 0 --speech "${SPEECH_IDS:-3000}" &
  speech=$!
fi
unet_flags=()
[ "${FREEZE_REFERENCE:-0}" = 1 ] && unet_flags+=(--freeze-reference)
shards=$(( (${TRAIN_IDS:-300} + 49) / 50 ))
run autoencoder "${AE:-0}" autoencoder.py --minutes "${AE:-0}" --shards "$shards"
run unet-pose "${POSE:-40}" unet.py --stage pose "${unet_flags[@]}" --minutes "${POSE:-40}" --shards "$shards"
run unet-expression "${EXPR:-20}" unet.py --stage expression "${unet_flags[@]}" --minutes "${EXPR:-20}" --shards "$shards"
run unet-video "${VIDEO:-12}" unet.py --stage video "${unet_flags[@]}" --minutes "${VIDEO:-12}" --shards "$shards"
[ -z "$speech" ] || wait "$speech"
run audio "${AUDIO:-20}" audio.py --minutes "${AUDIO:-20}" --shards "$shards"
run probe "${PROBE:-10}" probe.py --minutes "${PROBE:-10}" --shards "$shards"
[ -f "$RUNS/shipped-metrics.json" ] || "$PY" evaluate.py --model ../../models/flap-mini --out "$RUNS/shipped-metrics.json" --clips "${EVAL_CLIPS:-8}"
"$PY" export.py ${GUIDANCE:+--guidance "$GUIDANCE"}
"$PY" evaluate.py --clips "${EVAL_CLIPS:-8}"
# The round is over either way: its stages move to $RUNS/finished-<time>/, so the next round trains afresh
# instead of skipping every stage a finished one left behind.
finished="$RUNS/finished-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$finished"
if "$PY" ship.py --note "${NOTE:-}"; then
  "$PY" parity.py   # golden outputs of the newly shipped model for tests/models/mini.cases.ts and tests/render
  "$PY" controls_sheet.py
  "$PY" model_card.py
  mv "$RUNS/shipped-metrics.json" "$finished/"   # it measured the model this round replaced
fi
for stage in autoencoder unet-pose unet-expression unet-video audio probe candidate; do
  if [ -e "$RUNS/$stage" ]; then mv "$RUNS/$stage" "$finished/"; fi
done
echo "the round's runs: $finished"
