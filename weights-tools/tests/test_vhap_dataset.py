"""vhap_dataset.py on a tiny sample in VHAP's output layout (frames as JPEGs, STAR landmarks, a
tracked_flame_params file, the video's sound as a WAV): the coefficients land in FLAP's layout with the right
meaning, clips, crops, audio and the reference frame come out where they should, and the training data loader
reads the shard."""

from __future__ import annotations

import os
import subprocess
import sys
import wave

import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "train"))

import vhap_dataset as vd  # noqa: E402
from world.data import load_shard, utterances  # noqa: E402
from world.head import axis_angle_to_matrix, rot6d_to_matrix  # noqa: E402

W, H, T = 96, 80, 40
BOX = (0.30, 0.25, 0.70, 0.75)        # normalised face box: 38.4 x 40 px, centre (48, 40)
CLOSED = (10, 11, 12)                 # frames whose left eye is shut


def left_right_eye(closed: bool) -> list[tuple[float, float]]:
    """Six iBUG points of one eye (corner, 2 upper, corner, 2 lower) in pixels around (0, 0), 20 px wide."""
    h = 0.5 if closed else 3.0
    return [(-10, 0), (-4, -h), (4, -h), (10, 0), (4, h), (-4, h)]


def make_sample(root) -> dict:
    rng = np.random.default_rng(3)
    seq = root / "data" / "monocular" / "person"
    (seq / "images").mkdir(parents=True)
    # Frames: red = x (a ramp across the width), green = 6 · frame number, blue = 128.
    xs = np.round(np.arange(W) * 255 / (W - 1))
    frames = np.zeros((T, H, W, 3), np.uint8)
    frames[..., 0] = xs[None, None, :]
    frames[..., 1] = (np.arange(T) * 6)[:, None, None]
    frames[..., 2] = 128
    subprocess.run(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-i", "-",
                    "-start_number", "0", "-q:v", "1", str(seq / "images" / "%06d.jpg")],
                   input=frames.tobytes(), check=True)
    # STAR landmarks: both eyes open except the left (subject's left: points 42-47) on CLOSED; frame 30 undetected.
    lmk = np.zeros((T, 68, 3), np.float32)
    lmk[..., 2] = 1
    boxes = np.tile(np.array([*BOX, 1.0], np.float32), (T, 1))
    for t in range(T):
        for idx, cx, shut in ((range(42, 48), 62, t in CLOSED), (range(36, 42), 34, False)):
            for i, (dx, dy) in zip(idx, left_right_eye(shut)):
                lmk[t, i, :2] = ((cx + dx) / W, (35 + dy) / H)
    lmk[30], boxes[30] = -1, -1
    (seq / "landmark2d").mkdir()
    np.savez(seq / "landmark2d" / "STAR.npz", face_landmark_2d=lmk, bounding_box=boxes)
    # Tracking: an early epoch (to be ignored) and the final one; frame 20 is the neutral one.
    track = root / "output" / "person_whiteBg_staticOffset"
    track.mkdir(parents=True)
    params = {
        "rotation": rng.normal(0, 0.3, (T, 3)), "translation": rng.normal(0, 0.1, (T, 3)),
        "neck_pose": rng.normal(0, 0.2, (T, 3)), "jaw_pose": np.abs(rng.normal(0, 0.1, (T, 3))),
        "eyes_pose": rng.normal(0, 0.2, (T, 6)), "shape": rng.normal(0, 1, 300), "expr": rng.normal(0, 1, (T, 100)),
        "timestep_id": np.array([f"{t:06d}" for t in range(T)]), "n_processed_frames": np.array(T),
        "focal_length": np.array([4.0]), "image_size": np.array([H, W]),
    }
    for k in ("rotation", "neck_pose", "jaw_pose", "eyes_pose", "expr"):
        params[k][20] = 0
    params = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in params.items()}
    np.savez(track / "tracked_flame_params_30.npz", **params)
    np.savez(track / "tracked_flame_params_5.npz", **{k: (v * 0 if v.dtype == np.float32 else v)
                                                       for k, v in params.items()})
    # The sound, 16-bit PCM at 16 kHz (exact in float32), a little longer than the frames.
    pcm = rng.integers(-20000, 20000, (T + 3) * 640).astype(np.int16)
    with wave.open(str(seq) + ".wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return dict(seq=str(seq), track=str(track), params=params, audio=pcm.astype(np.float32) / 32768, frames=frames)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("vhap")
    s = make_sample(root)
    out = str(root / "shards")
    s["paths"] = vd.convert([(s["seq"], s["track"], None)], out, size=32)
    s["out"] = out
    s["shard"] = load_shard(s["paths"][0])
    return s


def test_coefficients_have_flaps_meaning(sample):
    p, sh = sample["params"], sample["shard"]
    coeffs = sh["coeffs"].reshape(-1, 120)          # clips of frames 0-15 and 16-31
    t = np.arange(32)
    # head: the rotation FLAME applies to the head joint, R(global) · R(neck), as one axis-angle
    R = axis_angle_to_matrix(torch.from_numpy(p["rotation"][t]).double()) @ \
        axis_angle_to_matrix(torch.from_numpy(p["neck_pose"][t]).double())
    got = axis_angle_to_matrix(torch.from_numpy(coeffs[:, 0:3]).double())
    assert torch.allclose(got, R, atol=1e-5)
    # eyes: 6-D of each eye's rotation, left (first three of eyes_pose) then right
    for k, sl in enumerate((slice(3, 9), slice(9, 15))):
        want = axis_angle_to_matrix(torch.from_numpy(p["eyes_pose"][t, 3 * k:3 * k + 3]).double())
        assert torch.allclose(rot6d_to_matrix(torch.from_numpy(coeffs[:, sl]).double()), want, atol=1e-5)
    assert np.array_equal(coeffs[:, 15:18], p["jaw_pose"][t])
    assert np.array_equal(coeffs[:, 20:], p["expr"][t])
    # eyelids from the landmarks: the left eye closed on frames 10-12, open elsewhere (frame 30 interpolated)
    lids = coeffs[:, 18:20]
    assert np.all(lids[list(CLOSED), 0] > 0.9) and np.all(np.delete(lids[:, 0], CLOSED) < 0.05)
    assert np.all(lids[:, 1] < 0.05)


def test_clips_crops_audio_and_reference(sample):
    sh, audio = sample["shard"], sample["audio"]
    assert sh["frames"].shape == (2, 16, 32, 32, 3) and sh["coeffs"].shape == (2, 16, 120)
    assert sh["clip_identity"].tolist() == [0, 0] and sh["has_audio"].tolist() == [1, 1]
    # frames keep their order: green codes the frame number (JPEG: a few levels of error)
    green = sh["frames"][..., 1].reshape(32, -1).mean(1)
    assert np.abs(green - np.arange(32) * 6).max() < 4
    # the crop: 1.8 x the 40-px box = 72 px around (48, 40), kept in the frame: x 12..84 of the 96-px ramp
    x, y, side = vd.face_crop(np.tile([*BOX, 1.0], (3, 1)), W, H, 1.8)
    assert (x, y, side) == (12, 4, 72)
    red = sh["frames"][..., 0].reshape(32, 32, 32, 1).mean((0, 1, 3))
    want = (x + (np.arange(32) + 0.5) * side / 32 - 0.5) * 255 / (W - 1)
    assert np.abs(red - want).max() < 6
    # audio: 640 samples per frame, exactly the sound's
    assert np.array_equal(sh["clip_audio"][1], audio[16 * 640:32 * 640])
    a, c, meta = next(utterances(sh))
    assert np.array_equal(a, audio[:T * 640]) and c.shape == (T, 120)
    # the reference is the neutral frame 20
    assert meta["reference_frame"] == "000020" and meta["tracking"] == "tracked_flame_params_30.npz"
    assert np.abs(sh["ref_frame"][..., 1].mean() - 120) < 4
    assert np.allclose(sh["ref_coeffs"][0, 3:15], [1, 0, 0, 0, 1, 0] * 2, atol=1e-6)
    assert meta["eyelids"].startswith("eye aspect ratio")


def test_the_training_loader_reads_it(sample, monkeypatch):
    from data import Shards
    monkeypatch.setenv("FLAP_DATA", sample["out"])
    frames, coeffs, ref, ref_coeffs = Shards("train", 1, seed=0, focus=True).windows(3, 5)
    assert frames.shape == (3, 5, 32, 32, 3) and coeffs.shape == (3, 5, 120) and ref.shape == (3, 32, 32, 3)


def test_rotation_helpers_round_trip():
    v = np.random.default_rng(0).normal(0, 1, (200, 3))
    v *= np.minimum(1, 3.1 / np.linalg.norm(v, axis=1, keepdims=True))   # angles below pi
    assert np.allclose(vd.axis_angle(vd.rodrigues(v)), v, atol=1e-9)
    assert np.allclose(vd.axis_angle(np.eye(3)), 0)


def test_frames_without_images_are_named(tmp_path):
    s = make_sample(tmp_path)
    os.remove(os.path.join(s["seq"], "images", "000007.jpg"))
    with pytest.raises(vd.VhapError, match=r"1 tracked frames have no image, e\.g\. .*000007\.jpg"):
        vd.convert([(s["seq"], s["track"], None)], str(tmp_path / "out"), size=32)
