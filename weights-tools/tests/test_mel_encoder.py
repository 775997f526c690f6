"""The log-mel audio front end (flap_ref/mel_encoder.py): its matmul spectrum is the windowed, zero-padded FFT's
power, its filters tile the spectrum, and the frame count follows the documented formula."""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flap_ref.config import load_config  # noqa: E402
from flap_ref.mel_encoder import MelEncoder, build_audio_encoder, mel_filters, num_frames  # noqa: E402

CFG = load_config("mini")["audio_encoder"]


def test_log_mel_is_the_fft_power_through_the_filters():
    enc = MelEncoder(CFG)
    x = torch.randn(2, 16_000 + 123)
    got = enc.log_mel(x)
    xn = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-7)
    frames = xn.unfold(-1, CFG["win_length"], CFG["hop_length"]) * torch.hann_window(CFG["win_length"])
    power = torch.fft.rfft(frames, n=CFG["n_fft"]).abs().pow(2)
    want = torch.log(power @ mel_filters(CFG["n_fft"], CFG["n_mels"], 16000, CFG["f_min"]) + 1e-6)
    assert got.shape == (2, num_frames(CFG, x.shape[-1]), CFG["n_mels"])
    assert (got - want).abs().max() < 1e-4


def test_filters_tile_and_none_is_empty():
    fb = mel_filters(512, 64, 16000, 20.0)
    assert (fb.max(0).values > 0.25).all()
    assert torch.allclose(fb[40:200].sum(1), torch.ones(160), atol=1e-5)


def test_features_are_50_per_second_and_the_config_picks_the_front_end():
    enc = build_audio_encoder(CFG)
    assert isinstance(enc, MelEncoder)
    assert enc(torch.randn(1, 32_000)).shape == (1, 99, CFG["hidden_size"])
    assert set(enc.state_dict()) == {"norm.weight", "norm.bias"} | {f"convs.{i}.{p}" for i in range(CFG["num_conv_layers"])
                                                                      for p in ("weight", "bias")}
    assert type(build_audio_encoder(load_config("test")["audio_encoder"])).__name__ == "AudioEncoder"
