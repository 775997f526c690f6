"""Regenerates the bundled demo samples (run: /usr/bin/python3 demo/samples/make_samples.py):
portrait.png — a neutral 256×256 render of a held-out identity of the head world (weights-tools/world);
speech.wav — about 1.1 s of espeak-ng speech, 16 kHz mono (4 clips of flap-mini: short enough for the command line's
bundled default to finish in minutes on a CPU adapter)."""

import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "weights-tools"))

from world import motion  # noqa: E402
from world.head import HeadModel, sample_identity  # noqa: E402
from world.render import Renderer  # noqa: E402

IDENTITY = 1_000_042
TEXT = "Hi! I can talk."


def main() -> None:
    coeffs = motion.reference_coeffs(np.random.default_rng(IDENTITY)).astype(np.float32)
    coeffs[0:3] = 0  # frontal
    img = Renderer(HeadModel(), sample_identity(IDENTITY), size=256, ss=2).render(coeffs[None])[0]
    Image.fromarray(img).save(os.path.join(HERE, "portrait.png"), optimize=True)
    np.save(os.path.join(HERE, "portrait_coeffs.npy"), coeffs)
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "220", "-w", raw, TEXT], check=True)
        # Trim espeak's leading and trailing silence, keep 50 ms before and 100 ms after.
        subprocess.run(["sox", raw, "-r", "16000", "-c", "1", "-b", "16", os.path.join(HERE, "speech.wav"),
                        "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse",
                        "pad", "0.05", "0.1"], check=True)


if __name__ == "__main__":
    main()
