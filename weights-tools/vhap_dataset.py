"""Real talking-head videos tracked by VHAP → shards in make_dataset.py's format, so the training scripts read them
as they read the head world (point them there with FLAP_DATA=DIR).

VHAP (ShenhanQian/VHAP, "Versatile Head Alignment with Adaptive Appearance Priors"; layout read from its source at
commit 4b64ab7: vhap/preprocess_video.py, vhap/data/video_dataset.py, vhap/model/tracker.py `save_result`,
vhap/util/landmark_detector_star.py) leaves, for a monocular video `data/monocular/NAME.mp4`:

  data/monocular/NAME/images/000000.jpg …     frames at 25 fps (preprocess_video.py's default), numbered from 0
  data/monocular/NAME/landmark2d/STAR.npz      (or face-alignment.npz) `face_landmark_2d` [T, 68, 3] = (x / W,
                                                y / H, 1), iBUG-68 order, -1 where none was found; `bounding_box`
                                                [T, 5] = (x1 / W, y1 / H, x2 / W, y2 / H, score)
  OUTPUT/tracked_flame_params_EPOCH.npz        FLAME per frame: `rotation` [T, 3] (global, axis-angle), `neck_pose`
                                                [T, 3], `jaw_pose` [T, 3], `eyes_pose` [T, 6] (axis-angle, left eye
                                                then right: FLAME's joints 3 and 4, smplx's leye/reye), `expr`
                                                [T, n_expr] (100 by default), `translation` [T, 3], `shape` [300],
                                                `timestep_id` [T] (the frame names), plus camera and appearance
                                                entries that are not used here
The monocular camera sits on the FLAME front axis (video_dataset.py: orientation identity, at z = 1), so a zero
rotation is a frontal head, as in this project.

Mapping to the 120 coefficients (FLAP's layout, the FLAME meanings it was defined with):
  global_rot [0:3]   axis-angle of R(rotation) · R(neck_pose): the head's orientation seen by the camera (our
                     layout has one head rotation; translation and shape are dropped: the portrait gives identity)
  eyes [3:15]        each eye's axis-angle → matrix → its first two columns (our 6-D), left then right
  jaw [15:18]        jaw_pose
  eyelids [18:20]    VHAP tracks no eyelid parameter; with landmarks, each eye's closure comes from its aspect
                     ratio (EAR, landmarks 42-47 left, 36-41 right): 1 - (EAR - closed) / (open - closed), clipped to
                     0..1, with `open` the sequence's 90th percentile and `closed` 0.2 · open; gaps interpolated.
                     Without landmarks: 0 (open)
  expression [20:]   the first 100 FLAME expression coefficients (zero-padded when fewer were tracked)

Shards (one identity per video): clips of 16 consecutive frames (non-overlapping, from the first tracked frame of
each contiguous run), square crops around the median face box (`--crop-scale` × its size, or the centre square
without landmarks), resized to `--size`; the 16 kHz mono audio from the video (ffmpeg), frame k covering samples
[640 k, 640 (k + 1)); the utterance is the longest contiguous run of tracked frames; the reference frame is the most
neutral tracked frame (smallest head rotation + jaw + expression + eyelid closure).

  /usr/bin/python3 weights-tools/vhap_dataset.py --seq data/monocular/obama,output/monocular/obama_whiteBg_staticOffset \\
      [--seq DATA_DIR,TRACK_DIR_OR_FILE[,AUDIO]] --out DIR [--split train] [--size 128] [--per-shard 50]
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

CLIP = 16
FPS = 25
SR = 16000
SAMPLES_PER_FRAME = SR // FPS
N_EXPR = 100
LEFT_EYE, RIGHT_EYE = list(range(42, 48)), list(range(36, 42))


class VhapError(ValueError):
    pass


# ------------------------------------------------------------------------------------------- rotations (float64)

def rodrigues(v: np.ndarray) -> np.ndarray:
    """Axis-angle [..., 3] → rotation matrices [..., 3, 3] (FLAME's batch_rodrigues)."""
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    k = v / np.maximum(angle, 1e-12)
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    z = np.zeros_like(kx)
    K = np.stack([z, -kz, ky, kz, z, -kx, -ky, kx, z], -1).reshape(*v.shape[:-1], 3, 3)
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def axis_angle(m: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] → axis-angle [..., 3], by way of a quaternion (stable near 0 and near π)."""
    tr = np.trace(m, axis1=-2, axis2=-1)
    w = np.sqrt(np.clip(1 + tr, 0, None)) / 2
    x = np.sqrt(np.clip(1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2], 0, None)) / 2
    y = np.sqrt(np.clip(1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], 0, None)) / 2
    z = np.sqrt(np.clip(1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2], 0, None)) / 2
    x = np.copysign(x, m[..., 2, 1] - m[..., 1, 2])
    y = np.copysign(y, m[..., 0, 2] - m[..., 2, 0])
    z = np.copysign(z, m[..., 1, 0] - m[..., 0, 1])
    xyz = np.stack([x, y, z], -1)
    s = np.linalg.norm(xyz, axis=-1, keepdims=True)
    angle = 2 * np.arctan2(s, w[..., None])
    return xyz / np.maximum(s, 1e-12) * angle


def six_d(m: np.ndarray) -> np.ndarray:
    """Our 6-D rotation: the first two columns, column by column (world/head.py)."""
    return np.concatenate([m[..., :, 0], m[..., :, 1]], -1)


# ------------------------------------------------------------------------------------------- reading VHAP output

def tracking_file(path: str) -> str:
    """A tracked_flame_params file, or the one of a tracking folder with the highest epoch (as VHAP's exporter)."""
    if os.path.isfile(path):
        return path
    epochs = []
    for p in glob.glob(os.path.join(path, "tracked_flame_params*.npz")):
        m = re.fullmatch(r"tracked_flame_params(?:_(\d+))?\.npz", os.path.basename(p))
        if m:
            epochs.append((int(m[1]) if m[1] else -1, p))
    if not epochs:
        raise VhapError(f"{path}: no tracked_flame_params*.npz (VHAP's track.py writes them to its output folder)")
    return max(epochs)[1]


def coefficients(params: dict, eyelids: np.ndarray) -> np.ndarray:
    """VHAP's per-frame FLAME parameters → [T, 120] in FLAP's layout (module docstring)."""
    for key in ("rotation", "neck_pose", "jaw_pose", "eyes_pose", "expr"):
        if key not in params:
            raise VhapError(f"the tracking file lacks `{key}` (has {sorted(params)})")
    rot = np.asarray(params["rotation"], np.float64)
    T = rot.shape[0]
    head = axis_angle(rodrigues(rot) @ rodrigues(np.asarray(params["neck_pose"], np.float64)))
    eyes = np.asarray(params["eyes_pose"], np.float64).reshape(T, 2, 3)
    expr = np.asarray(params["expr"], np.float64)[:, :N_EXPR]
    out = np.zeros((T, 120), np.float64)
    out[:, 0:3] = head
    out[:, 3:9] = six_d(rodrigues(eyes[:, 0]))
    out[:, 9:15] = six_d(rodrigues(eyes[:, 1]))
    out[:, 15:18] = np.asarray(params["jaw_pose"], np.float64)
    out[:, 18:20] = eyelids
    out[:, 20:20 + expr.shape[1]] = expr
    return out.astype(np.float32)


def landmarks_file(seq: str) -> str | None:
    for name in ("STAR", "face-alignment"):
        p = os.path.join(seq, "landmark2d", f"{name}.npz")
        if os.path.exists(p):
            return p
    return None


def eyelid_closure(lmk: np.ndarray, width: int, height: int) -> np.ndarray:
    """[T, 68, 3] normalised landmarks (-1: missing) → closure [T, 2] (left, right), 0 open … 1 closed."""
    pts = lmk[..., :2] * np.array([width, height])
    valid = np.all(lmk[..., :2] >= 0, axis=(-1, -2))
    out = np.zeros((lmk.shape[0], 2))
    for k, idx in enumerate((LEFT_EYE, RIGHT_EYE)):
        p = pts[:, idx]
        ear = (np.linalg.norm(p[:, 1] - p[:, 5], axis=-1) + np.linalg.norm(p[:, 2] - p[:, 4], axis=-1)) / \
            (2 * np.maximum(np.linalg.norm(p[:, 0] - p[:, 3], axis=-1), 1e-6))
        if not valid.any():
            continue
        frames = np.arange(len(ear))
        ear = np.interp(frames, frames[valid], ear[valid])
        opened = np.percentile(ear[valid], 90)
        closed = 0.2 * opened
        out[:, k] = np.clip((opened - ear) / max(opened - closed, 1e-6), 0, 1)
    return out


def face_crop(boxes: np.ndarray | None, width: int, height: int, scale: float) -> tuple[int, int, int]:
    """(x, y, side) of the square crop: around the median face box, `scale` times its larger side, kept inside the
    frame; the centre square without boxes."""
    side = min(width, height)
    cx, cy = width / 2, height / 2
    if boxes is not None:
        ok = boxes[:, 4] > 0
        if ok.any():
            b = boxes[ok, :4] * np.array([width, height, width, height])
            cx, cy = np.median((b[:, 0] + b[:, 2]) / 2), np.median((b[:, 1] + b[:, 3]) / 2)
            side = min(side, int(round(scale * np.median(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])))))
    side -= side % 2
    x = int(round(np.clip(cx - side / 2, 0, width - side)))
    y = int(round(np.clip(cy - side / 2, 0, height - side)))
    return x, y, side


def _ffmpeg(args: list[str]) -> bytes:
    done = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", *args], capture_output=True)
    if done.returncode != 0:
        raise VhapError(f"ffmpeg {' '.join(args)} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return done.stdout


def image_size(path: str) -> tuple[int, int]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                          "-of", "csv=p=0", path], capture_output=True, text=True)
    if out.returncode != 0:
        raise VhapError(f"{path}: ffprobe cannot read it ({out.stderr.strip()})")
    w, h = out.stdout.strip().split(",")[:2]
    return int(w), int(h)


def read_frames(paths: list[str], crop: tuple[int, int, int], size: int) -> np.ndarray:
    """The images, cropped and resized (area filter), as uint8 [T, size, size, 3]; one ffmpeg run."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        # the concat demuxer's list; a quote inside a path is written as '\''
        f.write("".join("file '" + os.path.abspath(p).replace("'", "'\\''") + "'\n" for p in paths))
        list_path = f.name
    try:
        x, y, side = crop
        raw = _ffmpeg(["-f", "concat", "-safe", "0", "-i", list_path, "-vf",
                       f"crop={side}:{side}:{x}:{y},scale={size}:{size}:flags=area", "-vsync", "0",
                       "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    finally:
        os.remove(list_path)
    expect = len(paths) * size * size * 3
    if len(raw) != expect:
        raise VhapError(f"ffmpeg returned {len(raw)} bytes for {len(paths)} frames, expected {expect}")
    return np.frombuffer(raw, np.uint8).reshape(len(paths), size, size, 3)


def read_audio(path: str) -> np.ndarray:
    return np.frombuffer(_ffmpeg(["-i", path, "-vn", "-ac", "1", "-ar", str(SR), "-f", "f32le", "-"]), np.float32)


def default_audio(seq: str) -> str | None:
    """VHAP's monocular input sits beside its frame folder: data/monocular/NAME.mp4 for data/monocular/NAME."""
    for ext in (".mp4", ".mov", ".mkv", ".webm", ".wav", ".m4a"):
        if os.path.exists(seq.rstrip("/") + ext):
            return seq.rstrip("/") + ext
    return None


def runs(ids: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges of consecutive frame numbers."""
    cuts = np.flatnonzero(np.diff(ids) != 1) + 1
    bounds = [0, *cuts.tolist(), len(ids)]
    return list(zip(bounds[:-1], bounds[1:]))


def read_sequence(seq: str, tracking: str, audio: str | None, size: int, crop_scale: float) -> dict:
    """One VHAP sequence → its clips, reference and utterance (a make_dataset identity)."""
    if audio is None:
        raise VhapError(f"{seq}: no audio beside it (NAME.mp4 …); pass it as the third field of --seq")
    track_path = tracking_file(tracking)
    with np.load(track_path) as z:
        params = {k: z[k] for k in z.files}
    names = [str(t) for t in params.get("timestep_id", [])]
    T = np.asarray(params["rotation"]).shape[0] if "rotation" in params else 0
    if len(names) != T:
        raise VhapError(f"{track_path}: {len(names)} timestep ids for {T} frames of parameters")
    image_dir = os.path.join(seq, "images")
    paths = [os.path.join(image_dir, f"{n}.jpg") for n in names]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise VhapError(f"{len(missing)} tracked frames have no image, e.g. {missing[:3]}")
    try:
        ids = np.array([int(n) for n in names])
    except ValueError:
        raise VhapError(f"{track_path}: timestep ids are not frame numbers ({names[:3]}…); multi-camera "
                        f"sequences are not read") from None
    order = np.argsort(ids)
    ids, paths = ids[order], [paths[i] for i in order]
    params = {k: (np.asarray(v)[order] if np.ndim(v) and np.shape(v)[0] == T else v) for k, v in params.items()}
    width, height = image_size(paths[0])
    lmk_path = landmarks_file(seq)
    boxes, eyelids, eyelid_source = None, np.zeros((T, 2)), "zero (no landmarks)"
    if lmk_path is not None:
        with np.load(lmk_path) as z:
            lmk, boxes = z["face_landmark_2d"], z["bounding_box"]
        if lmk.shape[0] <= ids.max():
            raise VhapError(f"{lmk_path}: {lmk.shape[0]} frames of landmarks, frame {ids.max()} tracked")
        lmk, boxes = lmk[ids], boxes[ids]
        eyelids, eyelid_source = eyelid_closure(lmk, width, height), f"eye aspect ratio ({os.path.basename(lmk_path)})"
    coeffs = coefficients(params, eyelids)
    crop = face_crop(boxes, width, height, crop_scale)
    frames = read_frames(paths, crop, size)
    wave = read_audio(audio)
    need = (ids.max() + 1) * SAMPLES_PER_FRAME
    wave = np.pad(wave, (0, max(0, need - len(wave))))

    def sound(frame_number: int, n: int) -> np.ndarray:
        return wave[frame_number * SAMPLES_PER_FRAME:(frame_number + n) * SAMPLES_PER_FRAME]

    clips, clip_audio = [], []
    for a, b in runs(ids):
        for s in range(a, b - CLIP + 1, CLIP):
            clips.append(s)
            clip_audio.append(sound(ids[s], CLIP))
    a, b = max(runs(ids), key=lambda r: r[1] - r[0])
    neutral = (np.linalg.norm(coeffs[:, 0:3], axis=1) + np.linalg.norm(coeffs[:, 15:18], axis=1)
               + np.linalg.norm(coeffs[:, 20:], axis=1) + coeffs[:, 18:20].sum(1))
    ref = int(np.argmin(neutral))
    name = os.path.basename(os.path.normpath(seq))
    return dict(
        frames=np.stack([frames[s:s + CLIP] for s in clips]) if clips else np.zeros((0, CLIP, size, size, 3), np.uint8),
        coeffs=np.stack([coeffs[s:s + CLIP] for s in clips]) if clips else np.zeros((0, CLIP, 120), np.float32),
        clip_audio=np.stack(clip_audio).astype(np.float32) if clips else np.zeros((0, CLIP * SAMPLES_PER_FRAME), np.float32),
        ref_frame=frames[ref], ref_coeffs=coeffs[ref],
        utt_audio=sound(ids[a], b - a).astype(np.float32), utt_coeffs=coeffs[a:b],
        seed=int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "little") & (2**63 - 1),
        meta=dict(sequence=name, tracking=os.path.basename(track_path), audio=os.path.basename(audio),
                  frames=int(T), clips=len(clips), reference_frame=names[order[ref]], crop=list(crop),
                  image_size=[width, height], eyelids=eyelid_source, expressions=int(np.shape(params["expr"])[1])))


def write_shard(path: str, parts: list[dict], split: str, size: int) -> None:
    """make_dataset.py's layout (see its docstring), written to a temporary name first."""
    ci = np.concatenate([np.full(len(p["coeffs"]), i, np.int32) for i, p in enumerate(parts)])
    meta = dict(source="vhap", split=split, fps=FPS, sample_rate=SR, size=size, identities=[p["meta"] for p in parts])
    tmp = path + ".tmp.npz"
    np.savez(tmp, frames=np.concatenate([p["frames"] for p in parts]),
             coeffs=np.concatenate([p["coeffs"] for p in parts]), clip_identity=ci,
             clip_audio=np.concatenate([p["clip_audio"] for p in parts]), has_audio=np.ones(len(ci), np.uint8),
             ref_frame=np.stack([p["ref_frame"] for p in parts]), ref_coeffs=np.stack([p["ref_coeffs"] for p in parts]),
             identity_seed=np.array([p["seed"] for p in parts], np.int64),
             utt_audio=np.concatenate([p["utt_audio"] for p in parts]),
             utt_audio_off=np.cumsum([0] + [len(p["utt_audio"]) for p in parts]).astype(np.int64),
             utt_coeffs=np.concatenate([p["utt_coeffs"] for p in parts]),
             utt_coeffs_off=np.cumsum([0] + [len(p["utt_coeffs"]) for p in parts]).astype(np.int64),
             meta=np.array(json.dumps(meta)))
    os.replace(tmp, path)


def convert(items: list[tuple[str, str, str | None]], out: str, split: str = "train", size: int = 128,
            per_shard: int = 50, crop_scale: float = 1.8) -> list[str]:
    """Each (sequence folder, tracking folder or file, audio or None) → one identity; returns the shard paths."""
    os.makedirs(out, exist_ok=True)
    written = []
    for k in range(0, len(items), per_shard):
        parts = [read_sequence(seq, track, audio or default_audio(seq), size, crop_scale)
                 for seq, track, audio in items[k:k + per_shard]]
        path = os.path.join(out, f"{split}-{k // per_shard:04d}.npz")
        write_shard(path, parts, split, size)
        written.append(path)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__[__doc__.index("\n"):])
    ap.add_argument("--seq", action="append", required=True, help="DATA_DIR,TRACKING[,AUDIO]; repeat per video")
    ap.add_argument("--out", required=True)
    ap.add_argument("--split", default="train", choices=("train", "heldout"))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--per-shard", type=int, default=50)
    ap.add_argument("--crop-scale", type=float, default=1.8, help="crop side over the median face box side")
    args = ap.parse_args()
    items = []
    for s in args.seq:
        fields = s.split(",")
        if len(fields) not in (2, 3):
            raise SystemExit(f"--seq {s!r}: expected DATA_DIR,TRACKING[,AUDIO]")
        items.append((fields[0], fields[1], fields[2] if len(fields) == 3 else None))
    try:
        for path in convert(items, args.out, args.split, args.size, args.per_shard, args.crop_scale):
            print(path)
    except VhapError as e:
        raise SystemExit(f"vhap_dataset.py: {e}")


if __name__ == "__main__":
    sys.exit(main())
