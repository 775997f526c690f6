"""Fast checks of the procedural head world (run: /usr/bin/python3 -m pytest weights-tools/tests/test_world.py)."""

import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from world import head, motion, speech  # noqa: E402
from world.head import REGIONS, HeadModel, identity_coeffs, sample_identity  # noqa: E402
from world.render import Renderer  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    return HeadModel()


@pytest.fixture(scope="module")
def rend(model):
    return Renderer(model, sample_identity(3), ss=1)


def count(regs, *names):
    return int(np.isin(regs, [REGIONS[n] for n in names]).sum())


def test_coefficient_layout():
    parts = [head.SL_GLOBAL, head.SL_EYE_L, head.SL_EYE_R, head.SL_JAW, head.SL_EYELIDS, head.SL_EXPR]
    assert [(s.start, s.stop) for s in parts] == [(0, 3), (3, 9), (9, 15), (15, 18), (18, 20), (20, 120)]
    c = identity_coeffs(1)[0]
    assert c.shape == (120,) and c.dtype == np.float32
    assert np.allclose(head.rot6d_to_matrix(torch.tensor(c[3:9])).numpy(), np.eye(3), atol=1e-6)
    # 6D = first two matrix columns; a gaze to +x turns the eye's forward axis toward +x.
    six = head.gaze_to_6d(np.array(0.3), np.array(0.0))
    m = head.rot6d_to_matrix(torch.tensor(six, dtype=torch.float32)).numpy()
    assert m[0, 2] > 0.25 and np.allclose(m.T @ m, np.eye(3), atol=1e-5)
    aa = head.euler_to_axis_angle(0.2, 0.0, 0.0)
    assert np.allclose(aa, [0, 0.2, 0], atol=1e-6)


def test_jaw_opens_mouth(rend):
    c = identity_coeffs(3)
    c[1, 15] = 0.15
    c[2, 15] = 0.35
    regs = rend.render_regions(c)
    n = [count(r, "mouth", "teeth", "tongue") for r in regs]
    # Closed: only the dark mouth corners (the slit tapers there) may show a few pixels.
    assert n[0] <= 10 and n[0] * 5 < n[1] < n[2] and n[2] > 60, n
    # And the rendered pixels there are darker than the closed lips' skin.
    img = rend.render(c)
    m = regs[2] == REGIONS["mouth"]
    assert img[2][m].mean() < img[0][m].mean() - 40


def test_eyelids_close_each_eye(rend):
    c = identity_coeffs(3)
    c[1, 18] = 1.0  # left (+x, the viewer's right half of the image)
    c[2, 18:20] = 1.0
    regs = rend.render_regions(c)
    eye = [count(r, "eye_white", "iris", "pupil") for r in regs]
    right_half = [count(r[:, 64:], "eye_white", "iris", "pupil") for r in regs]
    left_half = [count(r[:, :64], "eye_white", "iris", "pupil") for r in regs]
    assert eye[0] > 40 and eye[2] <= 0.1 * eye[0], eye
    assert right_half[1] <= 0.1 * right_half[0] and left_half[1] >= 0.9 * left_half[0]


def test_gaze_moves_pupils(rend):
    c = identity_coeffs(2)
    c[1, 3:15] = np.concatenate([head.gaze_to_6d(np.array(0.35), np.array(0.0))] * 2)
    regs = rend.render_regions(c)
    xs = [np.nonzero(r == REGIONS["pupil"])[1].mean() for r in regs]
    assert xs[1] > xs[0] + 1.0, xs


def test_yaw_turns_head(rend):
    c = identity_coeffs(3)
    c[1, 0:3] = head.euler_to_axis_angle(0.4, 0, 0)
    c[2, 0:3] = head.euler_to_axis_angle(-0.4, 0, 0)
    regs = rend.render_regions(c)
    # The nose tip (front-most head vertex) and the face's features (eyes + lips) move sideways with yaw.
    cx = [np.nonzero(np.isin(r, [REGIONS["eye_white"], REGIONS["iris"], REGIONS["pupil"], REGIONS["lips"]]))[1].mean() for r in regs]
    assert cx[1] > cx[0] + 5 and cx[2] < cx[0] - 5, cx


def test_named_expressions_are_visible(rend):
    base = rend.render(identity_coeffs(1))[0].astype(float)
    for k, name in enumerate(head.EXPRESSION_NAMES):
        c = identity_coeffs(1)
        c[0, 20 + k] = 1.0
        diff = np.abs(rend.render(c)[0].astype(float) - base).max(-1)
        assert (diff > 30).sum() >= 8, (name, int((diff > 30).sum()))


def test_blink_schedule_rate():
    rng = np.random.default_rng(0)
    T = 25 * 600
    track, blinks = motion.blink_track(rng, T)
    starts = np.array([b[0] for b in blinks])
    durs = np.array([b[1] for b in blinks])
    gaps = np.diff(starts) - durs[:-1]
    assert gaps.min() >= 2.0 and gaps.max() <= 6.0 and 3.5 < gaps.mean() < 4.5
    assert durs.min() >= 0.1 and durs.max() <= 0.25
    assert 600 / 6.3 <= len(blinks) <= 600 / 2.1
    assert track.max() > 0.9 and (track > 0.5).mean() < 0.06


def test_phoneme_alignment_speech_and_silence():
    audio, tracks, events = speech.utterance("Mama, open the big window.", "en-us", 160, 50)
    assert len(events) > 10
    assert abs(len(tracks) / 25 - len(audio) / 16000) < 0.05
    frame = 640
    n = min(len(tracks), len(audio) // frame)
    rms = np.sqrt((audio[: n * frame].reshape(n, frame) ** 2).mean(1))
    jaw = tracks[:n, 0]
    speaking = rms > 0.1 * rms.max()
    silent = rms < 0.01 * rms.max()
    assert silent.sum() >= 3 and speaking.sum() >= 10
    assert jaw[speaking].max() > 0.2 and jaw[silent].max() < 0.05
    assert np.corrcoef(jaw, rms)[0, 1] > 0.3
    # "Mama": the lips close for m (lip press) early in the utterance.
    assert tracks[:12, 2].max() > 0.5


def test_determinism(model):
    a = Renderer(model, sample_identity(42), ss=1)
    b = Renderer(HeadModel(), sample_identity(42), ss=1)
    seq = motion.sequence(np.random.default_rng(5), 4)
    seq2 = motion.sequence(np.random.default_rng(5), 4)
    assert np.array_equal(seq, seq2)
    fa, fb = a.render(seq), b.render(seq2)
    assert np.array_equal(fa, fb)
    assert not np.array_equal(fa[0], Renderer(model, sample_identity(43), ss=1).render(seq[:1])[0])


def test_motion_ranges():
    rng = np.random.default_rng(1)
    seq = motion.sequence(rng, 25 * 60)
    m = head.axis_angle_to_matrix(torch.tensor(seq[:, 0:3], dtype=torch.float64)).numpy()
    yaw = np.degrees(np.arctan2(m[:, 0, 2], m[:, 2, 2]))
    pitch = np.degrees(np.arcsin(-m[:, 1, 2]))
    assert np.abs(yaw).max() <= 35.5 and np.abs(pitch).max() <= 32.5 and np.ptp(yaw) > 5
    assert np.abs(np.diff(yaw)).max() < 3  # smooth at 25 fps


def _rodrigues(v):
    a = np.linalg.norm(v)
    if a < 1e-12:
        return np.eye(3)
    k = v / a
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


def _six(d):
    b1 = d[:3] / np.linalg.norm(d[:3])
    a2 = d[3:] - (b1 @ d[3:]) * b1
    b2 = a2 / np.linalg.norm(a2)
    return np.stack([b1, b2, np.cross(b1, b2)], 1)


def test_asset_round_trip_poses_as_documented(model, tmp_path):
    """The exported tensors, posed with the rules written in export_asset/head docstrings, match the model."""
    from world.export_asset import asset_tensors, read_safetensors, write_safetensors

    tensors, meta = asset_tensors(model, 11)
    path = str(tmp_path / "head.safetensors")
    write_safetensors(path, tensors, meta)
    t, m = read_safetensors(path)
    assert m["format"] == "flap-head-asset" and t["faces"].dtype == np.int32 and t["expr_basis"].shape[0] == 100
    c = motion.sequence(np.random.default_rng(2), 1)[0]
    c[15] = 0.25
    c[18] = 0.6
    v = t["template"] + np.einsum("k,knc->nc", c[20:], t["expr_basis"]) + np.einsum("k,knc->nc", c[18:20], t["eyelid_basis"])
    neck, jaw, eye_l, eye_r = t["joints"]
    vj = (v - jaw) @ _rodrigues(c[15:18]).T + jaw
    v = v + t["w_jaw"][:, None] * (vj - v)
    for k, (piv, sl) in enumerate(((eye_l, slice(3, 9)), (eye_r, slice(9, 15)))):
        sel = t["eye_id"] == k + 1
        v[sel] = (v[sel] - piv) @ _six(c[sl]).T + piv
    vg = (v - neck) @ _rodrigues(c[0:3]).T + neck
    v = v + t["w_global"][:, None] * (vg - v)
    ref = model.pose_vertices(torch.tensor(c[None]), torch.tensor(t["template"]))[0].numpy()
    assert np.abs(v - ref).max() < 1e-4
