#!/bin/sh
# Regenerates the ONNX graphs for kernel benchmarks (see weights-tools/export_onnx.py):
#   bench/onnx/ops/            every single op at its default SD-1.5 shapes, plus manifest.json
#   bench/onnx/kernels/        the shape sets of bench/kernels (SD-1.5 at a 32x32 latent and mini), plus manifest.json
#   bench/onnx/models/<cfg>/   the UNet denoising step and the decoder of a config (MODELS, default "test mini"),
#                              weights from $WEIGHTS_<cfg> (a safetensors file) when set, else seeded random ones
# Usage: sh bench/onnx/make.sh [ops|kernels|models|all]
set -e
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
what=${1:-all}
if [ "$what" = ops ] || [ "$what" = all ]; then
  $PY weights-tools/export_onnx.py ops --out bench/onnx/ops
fi
if [ "$what" = kernels ] || [ "$what" = all ]; then
  $PY weights-tools/export_onnx.py ops --out bench/onnx/kernels --set sd15 --set mini
fi
if [ "$what" = models ] || [ "$what" = all ]; then
  for cfg in ${MODELS:-test mini}; do
    weights=$(eval echo "\${WEIGHTS_$cfg:-}")
    $PY weights-tools/export_onnx.py model --config "$cfg" --out "bench/onnx/models/$cfg" ${weights:+--weights "$weights"}
  done
fi
