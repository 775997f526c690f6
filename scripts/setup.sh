#!/usr/bin/env bash
# Installs what flap-webgpu needs on a fresh Debian machine: Chromium (its SwiftShader gives WebGPU without a
# GPU), Debian's PyTorch stack for the reference in weights-tools/, espeak-ng/sox/ffmpeg for audio, and the npm
# packages (Puppeteer is told not to download a browser). Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# libopenblas0-pthread: Debian's torch and numpy otherwise use the reference BLAS (~5 GFLOP/s matmul here vs ~130).
debs=(chromium python3-torch python3-numpy python3-onnx python3-pytest libopenblas0-pthread espeak-ng libespeak-ng1 sox ffmpeg)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export PUPPETEER_SKIP_DOWNLOAD=true
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
