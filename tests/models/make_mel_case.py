"""Writes tests/fixtures/mel_encoder.safetensors for tests/models/mel_encoder.cases.ts: the log-mel audio front end
(weights-tools/flap_ref/mel_encoder.py) with seeded random weights (F16 values, stored F16) on 0.73 s of the
golden speech (an odd length, so the last frame is partial and dropped) → `log_mel` [1, T, n_mels] and `output`
[1, T, hidden]. The config is `config` (JSON metadata) — flap-mini's audio front end, with 3 conv layers.

  /usr/bin/python3 tests/models/make_mel_case.py
"""

from __future__ import annotations

import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "weights-tools"))

from flap_ref.mel_encoder import MelEncoder  # noqa: E402
from flap_ref.safetensors import save_file  # noqa: E402
from gen_fixtures import read_wav  # noqa: E402

CONFIG = {"type": "mel", "n_fft": 512, "win_length": 400, "hop_length": 320, "n_mels": 64, "f_min": 20.0,
          "sample_rate": 16000, "hidden_size": 48, "conv_kernel": 5, "num_conv_layers": 3}


def main() -> None:
    torch.manual_seed(5)
    enc = MelEncoder(CONFIG).eval()
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(0.1 * torch.randn_like(p))   # norm weights away from 1/0, so a swapped scale would show
            p.copy_(p.half().float())
    audio = read_wav(os.path.join(ROOT, "tests", "fixtures", "speech.wav"))[:11_700]
    with torch.no_grad():
        out, rec = enc(audio[None], return_intermediates=True)
    tensors = {f"mel.{k}": v.half() for k, v in enc.state_dict().items()}
    tensors.update(input=audio, log_mel=rec["log_mel"], output=out)
    path = os.path.join(ROOT, "tests", "fixtures", "mel_encoder.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, {"config": json.dumps(CONFIG),
                                                                       "generator": "tests/models/make_mel_case.py"})
    print(f"{path}: {os.path.getsize(path) / 1e3:.0f} kB, {out.shape[1]} frames")


if __name__ == "__main__":
    main()
