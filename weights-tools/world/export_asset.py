"""Exports the procedural head as a safetensors asset for the browser's WebGPU preview.

Usage: /usr/bin/python3 weights-tools/world/export_asset.py [--identity SEED] [--out weights-tools/.data/head_asset.safetensors]

Tensors (little-endian; N vertices, F triangles, E = 100 expression components, S = shape components):
  template        F32 [N, 3]     neutral vertices of the chosen identity (shape basis and hair volume applied)
  faces           I32 [F, 3]     triangles, counter-clockwise seen from outside (cull back faces)
  color           F32 [N, 3]     linear RGB albedo per vertex of that identity
  region          U8  [N]        region id per vertex (see metadata "regions")
  expr_basis      F32 [E, N, 3]  expression blendshape deltas (coefficients 20..119); bases F16 with --half
  eyelid_basis    F32 [2, N, 3]  eyelid closing deltas, left then right (coefficients 18, 19)
  shape_basis     F32 [S, N, 3]  identity shape deltas (already folded into `template`; for other identities)
  w_jaw           F32 [N]        jaw skinning weight
  w_global        F32 [N]        global-rotation skinning weight (1 head, blends to 0 down the neck, 0 shoulders)
  eye_id          U8  [N]        0 none, 1 left eyeball, 2 right eyeball (rigid eye rotation)
  joints          F32 [4, 3]     pivots: neck (global_rot), jaw, left eye, right eye
  light           F32 [3]        light direction (camera space) of the identity
  background      F32 [2, 3]     gradient end colours; metadata "bg_angle" gives its direction
Posing, camera and shading are documented in world/head.py and world/render.py; the metadata repeats the
camera constants (cam_y, cam_d, focal at 128 px, ambient, diffuse) and the coefficient layout.
The file format is plain safetensors: u64 header length, JSON header, raw data (written here directly so
this module has no dependency on the reference package).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from world import render  # noqa: E402
from world.head import (EXPRESSION_NAMES, REGIONS, SHAPE_NAMES, HeadModel, identity_mesh,  # noqa: E402
                        sample_identity)

_DT = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int32"): "I32", np.dtype("uint8"): "U8"}


def write_safetensors(path: str, tensors: dict, metadata: dict):
    header, blobs, off = {"__metadata__": {k: str(v) for k, v in metadata.items()}}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        b = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DT[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # align the data section to 8 bytes
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path: str):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    inv = {v: k for k, v in _DT.items()}
    out = {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], inv[v["dtype"]]).reshape(v["shape"])
           for k, v in header.items()}
    return out, meta


def asset_tensors(model: HeadModel, seed: int):
    ident = sample_identity(seed)
    T, col = identity_mesh(model, ident)
    tensors = {
        "template": T.numpy().astype(np.float32), "faces": model.faces.numpy().astype(np.int32),
        "color": col.numpy().astype(np.float32), "region": model.region.numpy().astype(np.uint8),
        "expr_basis": model.expr_basis.numpy(), "eyelid_basis": model.eyelid_basis.numpy(),
        "shape_basis": model.shape_basis.numpy(), "w_jaw": model.w_jaw.numpy(), "w_global": model.w_global.numpy(),
        "eye_id": model.eye_id.numpy().astype(np.uint8),
        "joints": np.stack([model.neck_pivot.numpy(), model.jaw_pivot.numpy(), *model.eye_pivots.numpy()]).astype(np.float32),
        "light": ident.light.astype(np.float32), "background": ident.bg.astype(np.float32),
    }
    meta = {"format": "flap-head-asset", "version": 1, "identity_seed": seed, "bg_angle": ident.bg_angle,
            "regions": json.dumps(REGIONS), "expression_names": json.dumps(EXPRESSION_NAMES),
            "shape_names": json.dumps(SHAPE_NAMES), "shape": json.dumps([float(x) for x in ident.shape]),
            "layout": "global_rot[3] eyes[12] jaw[3] eyelids[2] expression[100]",
            "camera": json.dumps(dict(cam_y=render.CAM_Y, cam_d=render.CAM_D, focal_128=render.FOCAL,
                                      ambient=render.AMBIENT, diffuse=render.DIFFUSE))}
    return tensors, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--identity", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                  ".data", "head_asset.safetensors"))
    ap.add_argument("--half", action="store_true", help="store the three bases as F16 (halves the file)")
    a = ap.parse_args()
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    tensors, meta = asset_tensors(HeadModel(), a.identity)
    if a.half:
        for k in ("expr_basis", "eyelid_basis", "shape_basis"):
            tensors[k] = tensors[k].astype(np.float16)
    write_safetensors(a.out, tensors, meta)
    print(f"{a.out}: {os.path.getsize(a.out) / 1e6:.1f} MB, {len(tensors['template'])} vertices, {len(tensors['faces'])} triangles")


if __name__ == "__main__":
    main()
