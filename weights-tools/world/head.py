"""Parametric 3D head driven by FLAP's 120 coefficients (FLAME meaning).

Coefficient layout (one frame, float32[120]):
  [0:3]    global_rot  axis-angle (radians) about the neck pivot; x = pitch (+ tilts the face down),
                       y = yaw (+ turns the nose toward +x), z = roll
  [3:9]    eye left    6D rotation (first two columns of the matrix, column by column); identity [1,0,0,0,1,0]
  [9:15]   eye right   6D rotation
  [15:18]  jaw         axis-angle about the jaw pivot; +x opens the mouth
  [18:20]  eyelids     left, right; 0 open ... 1 closed
  [20:120] expression  100 linear blendshape weights; the first 12 are named (EXPRESSION_NAMES),
                       the other 88 are small smooth random deformations

World frame: x = the head's left (viewer's right), y up, z toward the camera; head units (~10 cm).
"Left" means the subject's left (+x), as in FLAME.

Mesh (fixed topology for every identity): a lat/long head surface with an almond hole per eye and a
zero-width mouth slit (the lower-lip row is placed on the upper-lip row at rest and the triangles
between them are omitted, so the jaw opens a real gap), inward-facing mouth cavity and eye sockets,
upper/lower teeth, tongue, two eyeballs, neck and shoulders. Per-vertex region ids (REGIONS) give the
colours of an identity.

Posing (`HeadModel.pose_vertices`):
  v = template + expr_basis . expression + eyelid_basis[0]*eyelids[0] + eyelid_basis[1]*eyelids[1]
  v = lerp(v, R_jaw (v - jaw_pivot) + jaw_pivot, w_jaw)               (linear blend skinning)
  v = R_eye_k (v - eye_pivot_k) + eye_pivot_k   for eyeball vertices of eye k (eye_id = k+1)
  v = lerp(v, R_glob (v - neck_pivot) + neck_pivot, w_global)
Identity shape is a linear basis (SHAPE_NAMES) folded into the template of an identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

N_COEFFS = 120
SL_GLOBAL = slice(0, 3)
SL_EYE_L = slice(3, 9)
SL_EYE_R = slice(9, 15)
SL_EYES = slice(3, 15)
SL_JAW = slice(15, 18)
SL_EYELIDS = slice(18, 20)
SL_EXPR = slice(20, 120)
N_EXPR = 100

EXPRESSION_NAMES = [
    "smile", "brow_raise", "frown", "lip_pucker", "lip_stretch", "cheek_puff",
    "eye_squint", "nose_wrinkle", "mouth_left", "mouth_right", "lip_press", "lower_lip_down",
]
SHAPE_NAMES = ["width", "height", "depth", "jaw_width", "chin", "nose_length", "nose_width",
               "cheeks", "forehead", "eye_spacing", "lip_thickness", "mouth_width"]

REGIONS = {"skin": 0, "lips": 1, "hair": 2, "brow": 3, "eye_white": 4, "iris": 5, "pupil": 6,
           "mouth": 7, "teeth": 8, "tongue": 9, "neck": 10, "shirt": 11, "socket": 12}

# Landmarks of the neutral face in head units (front coordinates X, Y).
EYE_X, EYE_Y = 0.34, 0.10
EYE_HALF_W, EYE_HALF_H = 0.17, 0.075
EYE_R = 0.165
MOUTH_Y, MOUTH_HALF_W = -0.50, 0.24
NECK_PIVOT = np.array([0.0, -0.75, -0.15])
JAW_PIVOT = np.array([0.0, -0.05, -0.35])


def identity_coeffs(n: int = 1) -> np.ndarray:
    """Neutral coefficients: no rotation, eyes straight (6D identity), mouth closed, eyes open."""
    c = np.zeros((n, N_COEFFS), np.float32)
    c[:, 3:9] = [1, 0, 0, 0, 1, 0]
    c[:, 9:15] = [1, 0, 0, 0, 1, 0]
    return c


def axis_angle_to_matrix(v: torch.Tensor) -> torch.Tensor:
    """Rodrigues, batched: [..., 3] -> [..., 3, 3]."""
    angle = v.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    k = v / angle
    kx, ky, kz = k.unbind(-1)
    zero = torch.zeros_like(kx)
    K = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).reshape(*v.shape[:-1], 3, 3)
    s = torch.sin(angle)[..., None]
    c = torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=v.dtype).expand_as(K)
    return eye + s * K + (1 - c) * (K @ K)


def rot6d_to_matrix(d: torch.Tensor) -> torch.Tensor:
    """6D (first two columns, column by column) -> matrix via Gram-Schmidt; [..., 6] -> [..., 3, 3]."""
    a1, a2 = d[..., :3], d[..., 3:]
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    a2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = a2 / a2.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], -1)  # columns


def euler_to_matrix(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """R = Ry(yaw) Rx(pitch) Rz(roll), radians, same convention as src/controls/rotation.ts."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    o, z = np.ones_like(yaw), np.zeros_like(yaw)
    ry = np.stack([cy, z, sy, z, o, z, -sy, z, cy], -1).reshape(*np.shape(yaw), 3, 3)
    rx = np.stack([o, z, z, z, cp, -sp, z, sp, cp], -1).reshape(*np.shape(yaw), 3, 3)
    rz = np.stack([cr, -sr, z, sr, cr, z, z, z, o], -1).reshape(*np.shape(yaw), 3, 3)
    return ry @ rx @ rz


def matrix_to_axis_angle(m: np.ndarray) -> np.ndarray:
    """[..., 3, 3] -> [..., 3] (angles below pi; enough for head poses)."""
    cos = np.clip((np.trace(m, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    ang = np.arccos(cos)
    v = np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    s = np.sin(ang)
    k = np.where(s > 1e-7, ang / (2 * np.maximum(s, 1e-12)), 0.5)
    return v * k[..., None]


def euler_to_axis_angle(yaw, pitch, roll) -> np.ndarray:
    return matrix_to_axis_angle(euler_to_matrix(np.asarray(yaw, np.float64), np.asarray(pitch, np.float64),
                                                np.asarray(roll, np.float64)))


def gaze_to_6d(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Eye rotation for a gaze direction (radians): + yaw looks toward +x, + pitch looks down."""
    m = euler_to_matrix(np.asarray(yaw, np.float64), np.asarray(pitch, np.float64), np.zeros_like(yaw, np.float64))
    return np.concatenate([m[..., :, 0], m[..., :, 1]], -1)


def _smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0, 1)
    return t * t * (3 - 2 * t)


def _gauss(x, y, cx, cy, sx, sy):
    return np.exp(-((x - cx) / sx) ** 2 - ((y - cy) / sy) ** 2)


# ----------------------------------------------------------------------------------------------
# Mesh building
# ----------------------------------------------------------------------------------------------

@dataclass
class Part:
    name: str
    verts: np.ndarray        # [n, 3] neutral positions
    faces: np.ndarray        # [f, 3] local indices
    region: np.ndarray       # [n] region ids
    w_jaw: np.ndarray        # [n]
    w_global: np.ndarray     # [n]
    eye_id: int = 0          # 0 none, 1 left, 2 right (rigid eye rotation)
    extra: dict = field(default_factory=dict)


def _grid_faces(rows: int, cols: int, wrap: bool, keep=None) -> np.ndarray:
    """Two triangles per quad of a rows x cols vertex grid (index = r * cols + c)."""
    faces = []
    ccount = cols if wrap else cols - 1
    for r in range(rows - 1):
        for c in range(ccount):
            c1 = (c + 1) % cols
            a, b, d, e = r * cols + c, r * cols + c1, (r + 1) * cols + c, (r + 1) * cols + c1
            if keep is not None and not keep(r, c):
                continue
            faces.append((a, b, e))
            faces.append((a, e, d))
    return np.array(faces, np.int64).reshape(-1, 3)


def _orient(verts: np.ndarray, faces: np.ndarray, inward_to: np.ndarray | None, outward_from: np.ndarray | None):
    """Flip triangles so their normal points away from `outward_from` (or toward `inward_to`)."""
    p = verts[faces]
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    cen = p.mean(1)
    if outward_from is not None:
        flip = (n * (cen - outward_from)).sum(-1) < 0
    else:
        flip = (n * (inward_to - cen)).sum(-1) < 0
    faces = faces.copy()
    faces[flip] = faces[flip][:, [0, 2, 1]]
    return faces


def _ellipsoid(center, radii, rows, cols, inward=False, lat_range=(-math.pi / 2, math.pi / 2)):
    lat = np.linspace(lat_range[0], lat_range[1], rows)
    lon = np.linspace(-math.pi, math.pi, cols, endpoint=False)
    L, T = np.meshgrid(lat, lon, indexing="ij")
    v = np.stack([np.cos(L) * np.sin(T), np.sin(L), np.cos(L) * np.cos(T)], -1).reshape(-1, 3)
    v = v * np.asarray(radii) + np.asarray(center)
    f = _grid_faces(rows, cols, True)
    f = _orient(v, f, np.asarray(center) if inward else None, None if inward else np.asarray(center))
    return v, f, L.reshape(-1), T.reshape(-1)


class HeadBuilder:
    """Builds the neutral mesh, shape basis, expression basis and rig (deterministic)."""

    ROWS, COLS = 100, 128

    def __init__(self):
        self.parts: list[Part] = []

    # Head surface as a function of (lat, lon) and shape parameters beta (len(SHAPE_NAMES)).
    def head_surface(self, beta: np.ndarray):
        R, C = self.ROWS, self.COLS
        u = np.linspace(-1, 1, C, endpoint=False)
        theta = math.pi * (0.55 * u + 0.45 * u ** 3)          # denser columns at the front
        v = np.linspace(0, 1, R)
        phi = -math.pi / 2 + math.pi * v
        PHI, TH = np.meshgrid(phi, theta, indexing="ij")
        PHI = PHI.copy()
        # Mouth slit: the row just below the mouth line is moved onto it inside the mouth width.
        b = dict(zip(SHAPE_NAMES, beta))
        by = 1.15 * (1 + 0.06 * b["height"])
        Ym = MOUTH_Y
        row_m = int(np.argmin(np.abs(1.15 * np.sin(phi) - Ym)))  # fixed topology: independent of the shape
        self.row_m = row_m
        Xf = np.sin(TH)  # approx. lateral front coordinate / width
        g = 1 - _smoothstep(MOUTH_HALF_W * 0.85, MOUTH_HALF_W * 1.25, np.abs(Xf))
        dphi = phi[1] - phi[0]
        for k in range(4):
            PHI[row_m - 1 - k] += dphi * g[row_m - 1 - k] * max(0.0, 1 - k / 4)
        bx = 1.0 * (1 + 0.07 * b["width"])
        bz = 1.12 * (1 + 0.05 * b["depth"])
        x = bx * np.sin(TH) * np.cos(PHI)
        y = by * np.sin(PHI)
        z = bz * np.cos(TH) * np.cos(PHI)
        X, Y = x.copy(), y.copy()
        front = np.clip(np.cos(TH), 0, 1)
        # Lower face narrows toward the chin (jaw width).
        narrow = _smoothstep(-0.15, -1.1, Y) * (0.28 - 0.08 * b["jaw_width"])
        x *= 1 - narrow
        # Chin forward/down, forehead slope, cheeks, nose, lips, eye sockets, brow ridge.
        z += front * (0.10 + 0.03 * b["chin"]) * _gauss(X, Y, 0, -0.9, 0.25, 0.15)
        y -= front * 0.05 * b["chin"] * _smoothstep(-0.6, -1.0, Y)
        z += front * (0.04 + 0.03 * b["forehead"]) * _gauss(X, Y, 0, 0.55, 0.5, 0.25)
        z += front * (0.07 + 0.05 * b["cheeks"]) * (_gauss(X, Y, 0.42, -0.25, 0.2, 0.2) + _gauss(X, Y, -0.42, -0.25, 0.2, 0.2))
        nl = 1 + 0.2 * b["nose_length"]
        nw = 1 + 0.25 * b["nose_width"]
        ridge = _gauss(X, 0, 0, 0, 0.07 * nw, 1) * _smoothstep(0.15, -0.05, Y) * _smoothstep(-0.38 * nl, -0.22 * nl, Y)
        tip = _gauss(X, Y, 0, -0.25 * nl, 0.1 * nw, 0.08)
        wings = _gauss(X, Y, 0.1 * nw, -0.3 * nl, 0.06, 0.05) + _gauss(X, Y, -0.1 * nw, -0.3 * nl, 0.06, 0.05)
        z += front * (0.22 * nl * ridge * (0.4 + 0.6 * _smoothstep(0.1, -0.25, Y)) + 0.10 * tip + 0.06 * wings)
        lt = 1 + 0.3 * b["lip_thickness"]
        mw = 1 + 0.12 * b["mouth_width"]
        lips = _gauss(X, Y, 0, Ym + 0.035, 0.22 * mw, 0.05 * lt) + _gauss(X, Y, 0, Ym - 0.045, 0.2 * mw, 0.06 * lt)
        z += front * 0.06 * lips
        es = 1 + 0.08 * b["eye_spacing"]
        for sx in (1, -1):
            z -= front * 0.07 * _gauss(X, Y, sx * EYE_X * es, EYE_Y, 0.2, 0.13)
            z += front * 0.05 * _gauss(X, Y, sx * EYE_X * es, EYE_Y + 0.2, 0.25, 0.07)
        # Eye spacing moves the eye region sideways.
        x += front * 0.08 * b["eye_spacing"] * EYE_X * np.tanh(X / 0.2) * _gauss(X, Y, 0, EYE_Y, 0.6, 0.25)
        # Mouth width stretches the mouth region sideways.
        x += front * 0.12 * b["mouth_width"] * X * _gauss(X, Y, 0, Ym, 0.35, 0.15)
        verts = np.stack([x, y, z], -1).reshape(-1, 3)
        return verts, X.reshape(-1), Y.reshape(-1), TH.reshape(-1), PHI.reshape(-1), row_m

    def build(self):
        R, C = self.ROWS, self.COLS
        beta0 = np.zeros(len(SHAPE_NAMES))
        verts, X, Y, TH, PHI, row_m = self.head_surface(beta0)
        self.front_X, self.front_Y = X, Y
        Xg, Yg = X.reshape(R, C), Y.reshape(R, C)

        def keep(r, c):
            c1 = (c + 1) % C
            cx = (Xg[r, c] + Xg[r, c1] + Xg[r + 1, c] + Xg[r + 1, c1]) / 4
            cy = (Yg[r, c] + Yg[r, c1] + Yg[r + 1, c] + Yg[r + 1, c1]) / 4
            if abs(TH.reshape(R, C)[r, c]) > math.pi / 2:
                return True
            if r == row_m - 1 and abs(cx) < MOUTH_HALF_W * 0.98:
                return False  # mouth slit
            for sx in (1, -1):
                t = (cx - sx * EYE_X) / EYE_HALF_W
                if abs(t) < 1 and abs(cy - EYE_Y) < EYE_HALF_H * (1 - t * t) ** 0.8:
                    return False  # eye opening
            return True

        faces = _grid_faces(R, C, True, keep)
        faces = _orient(verts, faces, None, np.array([0.0, 0.0, 0.0]))
        # Degenerate (zero-area) faces from the mouth squeeze flip arbitrarily; orientation only matters where visible.
        region = np.zeros(len(verts), np.int64)
        rowidx = np.repeat(np.arange(R), C)
        front = np.cos(TH) > 0
        lipband = front & (np.abs(X) < MOUTH_HALF_W * 1.05 * (1 - 0.25 * ((Y - MOUTH_Y) / 0.1) ** 2)) & (np.abs(Y - MOUTH_Y) < 0.1)
        region[lipband] = REGIONS["lips"]
        for sx in (1, -1):
            t = (X - sx * EYE_X) / 0.21
            arch = EYE_Y + 0.17 + 0.04 * (1 - t ** 2)
            brow = front & (np.abs(t) < 1) & (np.abs(Y - arch) < 0.03 + 0.015 * (1 - np.abs(t)))
            region[brow] = REGIONS["brow"]
        # Jaw weights: topologically below the mouth line, fading at the sides/back.
        w_jaw = np.zeros(len(verts))
        below = rowidx <= row_m - 1
        side_fade = 1 - _smoothstep(math.radians(55), math.radians(95), np.abs(TH))
        corner = np.where(np.abs(X) < MOUTH_HALF_W, 1.0, _smoothstep(0.0, 0.3, MOUTH_Y - Y) + 0.0)
        corner = np.maximum(corner, (1 - _smoothstep(MOUTH_HALF_W, MOUTH_HALF_W + 0.15, np.abs(X))) * 1.0)
        w_jaw[below] = (side_fade * corner)[below]
        head = Part("head", verts, faces, region, w_jaw, np.ones(len(verts)))
        head.extra.update(X=X, Y=Y, TH=TH, PHI=PHI, rowidx=rowidx)
        self.head = head
        parts = [head]

        # Mouth cavity (inward), teeth, tongue.
        zc = 0.55
        cv, cf, L, T = _ellipsoid([0, MOUTH_Y - 0.05, zc], [0.28, 0.26, 0.36], 12, 20, inward=True)
        parts.append(Part("cavity", cv, cf, np.full(len(cv), REGIONS["mouth"]),
                          (cv[:, 1] < MOUTH_Y - 0.02).astype(float), np.ones(len(cv))))
        for name, y0, y1, jaw in (("teeth_up", MOUTH_Y + 0.005, MOUTH_Y + 0.07, 0.0), ("teeth_lo", MOUTH_Y - 0.065, MOUTH_Y - 0.005, 1.0)):
            a = np.linspace(-1.0, 1.0, 14)
            hh = np.linspace(y0, y1, 3)
            A, H = np.meshgrid(a, hh, indexing="ij")
            r = 0.25
            tv = np.stack([r * np.sin(A), H, zc + 0.26 + r * (np.cos(A) - 1) * 0.9], -1).reshape(-1, 3)
            tf = _grid_faces(14, 3, False)
            tf = _orient(tv, tf, None, np.array([0, MOUTH_Y, zc - 0.5]))
            parts.append(Part(name, tv, tf, np.full(len(tv), REGIONS["teeth"]), np.full(len(tv), jaw), np.ones(len(tv))))
        tv, tf, _, _ = _ellipsoid([0, MOUTH_Y - 0.13, zc + 0.05], [0.17, 0.05, 0.22], 8, 14)
        parts.append(Part("tongue", tv, tf, np.full(len(tv), REGIONS["tongue"]), np.ones(len(tv)), np.ones(len(tv))))

        # Eyes: socket (inward) + eyeball, per side; eyeball front recessed behind the lid surface.
        self.eye_centers = []
        surf = verts.reshape(R, C, 3)
        for k, sx in enumerate((1, -1)):
            i = np.argmin((X - sx * EYE_X) ** 2 + (Y - EYE_Y) ** 2 + (~front) * 10)
            zfront = verts[i, 2] - 0.03
            cen = np.array([sx * EYE_X, EYE_Y, zfront - EYE_R])
            self.eye_centers.append(cen)
            sv, sf, _, _ = _ellipsoid(cen + [0, 0, -0.02], [0.24, 0.16, 0.2], 8, 14, inward=True)
            parts.append(Part(f"socket{k}", sv, sf, np.full(len(sv), REGIONS["socket"]), np.zeros(len(sv)), np.ones(len(sv))))
            ev, ef, L, T = _ellipsoid(cen, [EYE_R] * 3, 16, 24)
            ang = np.arccos(np.clip(np.cos(L) * np.cos(T), -1, 1))  # angle from +z
            reg = np.where(ang < 0.22, REGIONS["pupil"], np.where(ang < 0.5, REGIONS["iris"], REGIONS["eye_white"]))
            parts.append(Part(f"eye{k}", ev, ef, reg, np.zeros(len(ev)), np.ones(len(ev)), eye_id=k + 1))

        # Neck (blends from head rotation at the top to static at the bottom) and shoulders (static).
        nr, ncols = 8, 20
        hy = np.linspace(-0.55, -1.75, nr)
        ang = np.linspace(-math.pi, math.pi, ncols, endpoint=False)
        Hh, A = np.meshgrid(hy, ang, indexing="ij")
        nv = np.stack([0.46 * np.sin(A), Hh, -0.18 + 0.42 * np.cos(A)], -1).reshape(-1, 3)
        nf = _orient(nv, _grid_faces(nr, ncols, True), None, None if False else np.array([0, 0, -0.18]))
        nf = _orient(nv, nf, None, np.array([0, -1.1, -0.18]))
        wg = _smoothstep(-1.45, -0.75, nv[:, 1])
        parts.append(Part("neck", nv, nf, np.full(len(nv), REGIONS["neck"]), np.zeros(len(nv)), wg))
        sv, sf, L, T = _ellipsoid([0, -2.25, -0.25], [1.9, 0.65, 0.75], 10, 28)
        parts.append(Part("shoulders", sv, sf, np.full(len(sv), REGIONS["shirt"]), np.zeros(len(sv)), np.zeros(len(sv))))
        self.parts = parts
        return parts


class HeadModel:
    """Concatenated mesh + bases + rig, in torch (float32), shared by all identities."""

    def __init__(self, seed: int = 7):
        b = HeadBuilder()
        parts = b.build()
        self.builder = b
        offs, vs, fs = 0, [], []
        self.part_ranges = {}
        for p in parts:
            vs.append(p.verts)
            fs.append(p.faces + offs)
            self.part_ranges[p.name] = (offs, offs + len(p.verts))
            offs += len(p.verts)
        self.n_head = len(parts[0].verts)
        V = np.concatenate(vs)
        self.template = torch.tensor(V, dtype=torch.float32)
        self.faces = torch.tensor(np.concatenate(fs), dtype=torch.int64)
        self.region = torch.tensor(np.concatenate([p.region for p in parts]), dtype=torch.int64)
        self.w_jaw = torch.tensor(np.concatenate([p.w_jaw for p in parts]), dtype=torch.float32)
        self.w_global = torch.tensor(np.concatenate([p.w_global for p in parts]), dtype=torch.float32)
        self.eye_id = torch.tensor(np.concatenate([np.full(len(p.verts), p.eye_id) for p in parts]), dtype=torch.int64)
        self.eye_pivots = torch.tensor(np.stack(b.eye_centers), dtype=torch.float32)
        self.jaw_pivot = torch.tensor(JAW_PIVOT, dtype=torch.float32)
        self.neck_pivot = torch.tensor(NECK_PIVOT, dtype=torch.float32)
        self.shape_basis = torch.tensor(self._shape_basis(), dtype=torch.float32)        # [S, N, 3]
        self.expr_basis = torch.tensor(self._expr_basis(seed), dtype=torch.float32)     # [100, N, 3]
        self.eyelid_basis = torch.tensor(self._eyelid_basis(), dtype=torch.float32)     # [2, N, 3]

    # -- bases --------------------------------------------------------------------------------
    def _shape_basis(self):
        b = self.builder
        N = len(self.template)
        base, *_ = b.head_surface(np.zeros(len(SHAPE_NAMES)))
        out = np.zeros((len(SHAPE_NAMES), N, 3))
        for k in range(len(SHAPE_NAMES)):
            e = np.zeros(len(SHAPE_NAMES))
            e[k] = 1
            v, *_ = b.head_surface(e)
            out[k, : self.n_head] = v - base
        # Inner parts follow the face: shift cavity/teeth/tongue/eyes with the nearby surface delta.
        X, Y = b.front_X, b.front_Y
        front = np.cos(b.head.extra["TH"]) > 0
        V = self.template.numpy()
        for name, (s, e) in self.part_ranges.items():
            if name in ("head", "neck", "shoulders"):
                continue
            anchor = np.array([V[s:e, 0].mean(), V[s:e, 1].mean()])
            i = np.argmin((X - anchor[0]) ** 2 + (Y - anchor[1]) ** 2 + (~front) * 10)
            out[:, s:e] = out[:, i][:, None]
        return out

    def _local(self):
        """Front coordinates of every vertex (head surface: rest X/Y; inner parts: their positions)."""
        V = self.template.numpy()
        X, Y = V[:, 0].copy(), V[:, 1].copy()
        X[: self.n_head] = self.builder.front_X
        Y[: self.n_head] = self.builder.front_Y
        front = np.zeros(len(V), bool)
        front[: self.n_head] = np.cos(self.builder.head.extra["TH"]) > 0.2
        return V, X, Y, front

    def _eyelid_basis(self):
        V, X, Y, front = self._local()
        out = np.zeros((2, len(V), 3))
        for k, sx in enumerate((1, -1)):
            t = (X - sx * EYE_X) / EYE_HALF_W
            prof = np.clip(1 - t * t, 0, 1) ** 0.8
            y_top = EYE_Y + EYE_HALF_H * prof
            # Close a little past the lower edge so the jagged hole border is covered too.
            y_bot = EYE_Y - EYE_HALF_H * prof - 0.03 * (1 - _smoothstep(1.0, 1.3, np.abs(t)))
            top_lim = EYE_Y + 0.16
            up = front & (Y >= EYE_Y - 1e-6) & (Y < top_lim) & (np.abs(t) < 1.3)
            scale = (top_lim - y_bot) / np.maximum(top_lim - y_top, 1e-6)
            ynew = np.where(Y < y_top, y_bot, y_bot + (Y - y_top) * scale)
            fall = 1 - _smoothstep(1.0, 1.3, np.abs(t))
            dy = (ynew - Y) * fall
            out[k, up, 1] = dy[up]
            # Bulge the closing lid forward so it passes in front of the eyeball.
            bulge = 0.035 * fall * np.clip(1 - np.abs(ynew - EYE_Y) / 0.1, 0, 1)
            out[k, up, 2] = bulge[up]
        out[:, self.n_head:] = 0
        return out

    def _expr_basis(self, seed: int):
        V, X, Y, front = self._local()
        N = len(V)
        E = np.zeros((N_EXPR, N, 3))
        f = front.astype(float)
        head = np.zeros(N, bool)
        head[: self.n_head] = True
        s_mouth = self.part_ranges
        inner = np.zeros(N, bool)
        for name in ("cavity", "teeth_up", "teeth_lo", "tongue"):
            a, b = s_mouth[name]
            inner[a:b] = True
        rowidx = np.full(N, -1)
        rowidx[: self.n_head] = self.builder.head.extra["rowidx"]
        lower = (rowidx <= self.builder.row_m - 1) & head
        Ym = MOUTH_Y
        g = _gauss
        # 0 smile: corners up/out/back, cheeks up.
        for sx in (1, -1):
            w = g(X, Y, sx * 0.24, Ym, 0.13, 0.1) * f
            E[0, :, 0] += 0.06 * sx * w
            E[0, :, 1] += 0.07 * w
            E[0, :, 2] -= 0.02 * w
            wc = g(X, Y, sx * 0.4, -0.2, 0.17, 0.15) * f
            E[0, :, 1] += 0.035 * wc
            E[0, :, 2] += 0.03 * wc
        # 1 brow raise.
        wb = sum(g(X, Y, sx * 0.34, EYE_Y + 0.2, 0.25, 0.1) for sx in (1, -1)) * f
        E[1, :, 1] += 0.07 * wb
        # 2 frown: inner brows down and together.
        for sx in (1, -1):
            w = g(X, Y, sx * 0.2, EYE_Y + 0.2, 0.14, 0.08) * f
            E[2, :, 1] -= 0.055 * w
            E[2, :, 0] -= sx * 0.035 * w
        # 3 lip pucker: lips toward the centre and forward.
        wm = g(X, Y, 0, Ym, 0.28, 0.12) * f
        E[3, :, 0] -= 0.35 * X * wm
        E[3, :, 2] += 0.09 * wm
        # 4 lip stretch: corners outward, lips thin.
        for sx in (1, -1):
            w = g(X, Y, sx * 0.24, Ym, 0.12, 0.1) * f
            E[4, :, 0] += 0.08 * sx * w
            E[4, :, 1] -= 0.015 * w
        # 5 cheek puff: cheeks outward along the surface normal (approx. radial in xz).
        for sx in (1, -1):
            w = g(X, Y, sx * 0.45, -0.35, 0.2, 0.2) * f
            E[5, :, 0] += 0.08 * sx * w
            E[5, :, 2] += 0.05 * w
        # 6 eye squint: lids partly closed + lower lid and cheek up.
        E[6] += 0.35 * self._eyelid_basis().sum(0)
        for sx in (1, -1):
            w = g(X, Y, sx * EYE_X, EYE_Y - 0.15, 0.2, 0.07) * f
            E[6, :, 1] += 0.03 * w
        # 7 nose wrinkle: nose sides and upper lip up.
        w = (g(X, Y, 0.12, -0.2, 0.08, 0.1) + g(X, Y, -0.12, -0.2, 0.08, 0.1) + 0.6 * g(X, Y, 0, Ym + 0.07, 0.2, 0.06)) * f
        E[7, :, 1] += 0.045 * w
        for sx in (1, -1):
            E[7, :, 1] -= 0.02 * g(X, Y, sx * 0.2, EYE_Y + 0.2, 0.12, 0.08) * f
        # 8/9 mouth left/right: mouth region slides sideways (left = +x).
        wm2 = g(X, Y, 0, Ym, 0.3, 0.14) * f
        E[8, :, 0] += 0.09 * wm2
        E[9, :, 0] -= 0.09 * wm2
        # 10 lip press: lips pressed thin (toward the mouth line) and back.
        wl = g(X, Y, 0, Ym, 0.25, 0.1) * f
        E[10, :, 1] -= 0.5 * (Y - Ym) * wl
        E[10, :, 2] -= 0.03 * wl
        # 11 lower lip down: the lower lip rows drop, opening the slit without the jaw.
        wd = g(X, Y, 0, Ym - 0.03, 0.2, 0.08) * f * lower
        E[11, :, 1] -= 0.09 * wd
        E[11, :, 2] += 0.01 * wd
        # 12..99: small smooth random deformations (a few Gaussian bumps each, <= ~0.02 units).
        rng = np.random.default_rng(seed)
        for k in range(len(EXPRESSION_NAMES), N_EXPR):
            for _ in range(3):
                cx, cy = rng.uniform(-0.6, 0.6), rng.uniform(-0.9, 0.6)
                sxy = rng.uniform(0.12, 0.3)
                d = rng.normal(size=3)
                d = 0.015 * d / np.linalg.norm(d)
                w = g(X, Y, cx, cy, sxy, sxy) * f
                E[k] += w[:, None] * d
        # Deformations act on the face surface only, except the mouth inside follows pucker/side moves.
        E[:, ~head] = 0
        E[8, inner, 0] = 0.05  # the mouth inside follows the lips part way
        E[9, inner, 0] = -0.05
        return E

    # -- posing -------------------------------------------------------------------------------
    def pose_vertices(self, coeffs: torch.Tensor, template: torch.Tensor | None = None) -> torch.Tensor:
        """coeffs [B, 120] -> posed vertices [B, N, 3]."""
        coeffs = torch.as_tensor(coeffs, dtype=torch.float32)
        if coeffs.dim() == 1:
            coeffs = coeffs[None]
        B = coeffs.shape[0]
        T = self.template if template is None else template
        v = T[None] + torch.einsum("bk,knc->bnc", coeffs[:, SL_EXPR], self.expr_basis)
        v = v + torch.einsum("bk,knc->bnc", coeffs[:, SL_EYELIDS], self.eyelid_basis)
        Rj = axis_angle_to_matrix(coeffs[:, SL_JAW])
        vj = torch.einsum("bij,bnj->bni", Rj, v - self.jaw_pivot) + self.jaw_pivot
        wj = self.w_jaw[None, :, None]
        v = v + wj * (vj - v)
        for k, sl in enumerate((SL_EYE_L, SL_EYE_R)):
            m = self.eye_id == k + 1
            Re = rot6d_to_matrix(coeffs[:, sl])
            p = self.eye_pivots[k]
            v[:, m] = torch.einsum("bij,bnj->bni", Re, v[:, m] - p) + p
        Rg = axis_angle_to_matrix(coeffs[:, SL_GLOBAL])
        vg = torch.einsum("bij,bnj->bni", Rg, v - self.neck_pivot) + self.neck_pivot
        wg = self.w_global[None, :, None]
        return v + wg * (vg - v)


# ----------------------------------------------------------------------------------------------
# Identities
# ----------------------------------------------------------------------------------------------

SKIN_TONES = np.array([[0.98, 0.84, 0.74], [0.93, 0.74, 0.60], [0.80, 0.60, 0.45], [0.62, 0.43, 0.30],
                       [0.45, 0.30, 0.20], [0.32, 0.21, 0.14]])
HAIR_COLOURS = np.array([[0.08, 0.06, 0.05], [0.25, 0.15, 0.08], [0.45, 0.28, 0.14], [0.80, 0.65, 0.38],
                         [0.60, 0.22, 0.08], [0.70, 0.70, 0.70], [0.92, 0.90, 0.85]])
IRIS_COLOURS = np.array([[0.30, 0.18, 0.08], [0.20, 0.40, 0.70], [0.25, 0.50, 0.30], [0.50, 0.40, 0.20],
                         [0.35, 0.45, 0.55]])


@dataclass
class Identity:
    seed: int
    shape: np.ndarray          # [len(SHAPE_NAMES)]
    skin: np.ndarray
    hair: np.ndarray
    iris: np.ndarray
    lips: np.ndarray
    shirt: np.ndarray
    bg: np.ndarray             # [2, 3] gradient end colours
    bg_angle: float
    hair_style: dict
    light: np.ndarray          # [3] light direction (camera space)


def sample_identity(seed: int) -> Identity:
    rng = np.random.default_rng([seed, 0xF1A9])
    t = rng.uniform(0, len(SKIN_TONES) - 1)
    i = int(t)
    skin = SKIN_TONES[i] * (1 - (t - i)) + SKIN_TONES[min(i + 1, len(SKIN_TONES) - 1)] * (t - i)
    skin = np.clip(skin * rng.uniform(0.93, 1.05, 3), 0, 1)
    hair = np.clip(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.8, 1.2, 3), 0, 1)
    iris = np.clip(IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * rng.uniform(0.8, 1.2, 3), 0, 1)
    lips = np.clip(skin * np.array([0.85, 0.55, 0.55]) + np.array([0.08, 0.0, 0.02]) * rng.uniform(0.5, 1.5), 0, 1)
    shirt = rng.uniform(0.05, 0.95, 3)
    bg = rng.uniform(0.05, 0.95, (2, 3))
    style = dict(
        bald=bool(rng.uniform() < 0.06),
        hairline=rng.uniform(0.45, 0.7),       # front hairline height (Y)
        side=rng.uniform(-0.6, 0.3),           # how far the hair comes down at the temples
        back=rng.uniform(-1.0, -0.2),          # how far down the back
        fringe=rng.uniform(0, 0.25) if rng.uniform() < 0.35 else 0.0,
        volume=rng.uniform(0.03, 0.16),
        part=rng.uniform(-0.3, 0.3),
    )
    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(0.2, 0.7), 1.0])
    return Identity(seed, rng.uniform(-1, 1, len(SHAPE_NAMES)), skin, hair, iris, lips, shirt, bg,
                    float(rng.uniform(0, 2 * math.pi)), style, light / np.linalg.norm(light))


def identity_mesh(model: HeadModel, ident: Identity):
    """Template (with shape and hair volume) and per-vertex colours [N, 3] of an identity."""
    T = model.template + torch.einsum("k,knc->nc", torch.tensor(ident.shape, dtype=torch.float32), model.shape_basis)
    b = model.builder
    nh = model.n_head
    X, Y, TH = b.front_X, b.front_Y, b.head.extra["TH"]
    st = ident.hair_style
    col = np.zeros((len(T), 3))
    reg = model.region.numpy()
    ang = np.abs(TH)
    # Hairline height as a function of the angle around the head: front -> temples -> back.
    line = np.interp(ang, [0, 0.5, 1.2, 1.9, math.pi], [st["hairline"] - st["fringe"] * 1.2, st["hairline"],
                                                        st["side"], st["back"], st["back"]])
    line = line + st["part"] * 0.1 * np.sin(TH)
    hairw = np.zeros(len(T))
    if not st["bald"]:
        hairw[:nh] = _smoothstep(-0.02, 0.04, Y - line)
        # Never over the eyes and brows.
        hairw[:nh] *= 1 - (np.cos(TH) > 0.55) * (1 - _smoothstep(EYE_Y + 0.25, EYE_Y + 0.32, Y))
    # Hair volume: push outward from the head centre.
    hv = torch.tensor(hairw * st["volume"], dtype=torch.float32)
    n = T[:nh] - torch.tensor([0, 0.1, -0.1])
    n = n / n.norm(dim=-1, keepdim=True)
    T = T.clone()
    T[:nh] += hv[:nh, None] * n
    palette = {
        REGIONS["skin"]: ident.skin, REGIONS["lips"]: ident.lips, REGIONS["hair"]: ident.hair,
        REGIONS["brow"]: ident.hair * 0.7, REGIONS["eye_white"]: np.array([0.93, 0.92, 0.9]),
        REGIONS["iris"]: ident.iris, REGIONS["pupil"]: np.array([0.03, 0.03, 0.03]),
        REGIONS["mouth"]: np.array([0.22, 0.05, 0.06]), REGIONS["teeth"]: np.array([0.95, 0.93, 0.86]),
        REGIONS["tongue"]: np.array([0.75, 0.35, 0.38]), REGIONS["neck"]: ident.skin * 0.92,
        REGIONS["shirt"]: ident.shirt, REGIONS["socket"]: ident.skin * 0.3,
    }
    for r, c in palette.items():
        col[reg == r] = c
    col[:nh] = col[:nh] * (1 - hairw[:nh, None]) + ident.hair * hairw[:nh, None]
    # Cheek blush for a bit of face structure.
    blush = sum(_gauss(X, Y, sx * 0.42, -0.2, 0.15, 0.12) for sx in (1, -1)) * (np.cos(TH) > 0) * (1 - hairw[:nh])
    col[:nh] = col[:nh] * (1 - 0.12 * blush[:, None]) + np.array([0.85, 0.4, 0.4]) * 0.12 * blush[:, None]
    return T, torch.tensor(col, dtype=torch.float32)
