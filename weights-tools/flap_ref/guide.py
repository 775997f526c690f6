"""The geometry guide (config `unet.guide`, flap-mini only): each frame's coefficients pose the model's head asset
(the mean identity, `head_asset.safetensors`), which is rasterised to a small image whose colours are part labels
(eye white, iris, pupil, eyelid skin, lips, mouth interior, teeth, ...) shaded by one light, over black. A small
conv encoder with a zero-initialised output brings the image to latent size and adds it to the UNet's first
features, as the pose guiders of Animate Anyone, AniPortrait and EchoMimic do. It gives a small model exact
spatial knowledge of pose, gaze, eyelids, jaw and lips; the coefficient tokens stay.

Config: `{"size": 64, "supersample": 2, "channels": [16, 32, 64], "palette": [[r, g, b] per region id]}`.
`size` / 2^(len(channels) - 1) must be the latent size. The TypeScript side (src/render/head.ts `renderGuides`,
src/models/guide.ts) draws the same image with a WebGPU render pipeline (4x MSAA instead of supersampling).

Layout of the encoder (names under `unet.guide_encoder.` and `reference_net.guide_encoder.`):
  conv_in (3 → c0, 3x3), SiLU
  blocks.2i (ci → ci, 3x3), SiLU; blocks.2i+1 (ci → ci+1, 3x3, stride 2), SiLU    for i < len(channels) - 1
  conv_out (c_last → block_out_channels[0], 3x3), zero-initialised
"""

from __future__ import annotations

import json
import struct

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class GuideEncoder(nn.Module):
    def __init__(self, guide: dict, out_channels: int):
        super().__init__()
        ch = guide["channels"]
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        blocks = []
        for a, b in zip(ch[:-1], ch[1:]):
            blocks += [nn.Conv2d(a, a, 3, padding=1), nn.Conv2d(a, b, 3, stride=2, padding=1)]
        self.blocks = nn.ModuleList(blocks)
        self.conv_out = nn.Conv2d(ch[-1], out_channels, 3, padding=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero output: a model warm-started without a guide computes exactly what it did before."""
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, guide: torch.Tensor) -> torch.Tensor:
        """guide [N, 3, size, size] in [0, 1] (zeros: no guide) → [N, C0, size / 2^k, size / 2^k]."""
        h = F.silu(self.conv_in(guide))
        for conv in self.blocks:
            h = F.silu(conv(h))
        return self.conv_out(h)


def _read_asset(path: str) -> tuple[dict[str, np.ndarray], dict]:
    dtypes = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "U8": np.uint8}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtypes[v["dtype"]]).reshape(v["shape"])
           for k, v in header.items()}
    return out, meta


class GuideRenderer:
    """Poses a head asset (world/export_asset.py) by coefficients and rasterises its part-label guide with the
    PyTorch rasteriser of world/render.py. `render(coeffs [B, 120]) -> [B, 3, size, size]` in [0, 1]."""

    def __init__(self, asset_path: str, guide: dict):
        from world.render import CAM_D, CAM_Y, FOCAL  # the camera the asset states
        t, meta = _read_asset(asset_path)
        if meta.get("format") != "flap-head-asset":
            raise ValueError(f"{asset_path} is not a flap head asset")
        f32 = lambda k: torch.from_numpy(t[k].astype(np.float32))  # noqa: E731
        self.template, self.expr_basis, self.eyelid_basis = f32("template"), f32("expr_basis"), f32("eyelid_basis")
        self.faces = torch.from_numpy(t["faces"].astype(np.int64))
        self.region = torch.from_numpy(t["region"].astype(np.int64))
        self.w_jaw, self.w_global = f32("w_jaw"), f32("w_global")
        self.eye_id = torch.from_numpy(t["eye_id"].astype(np.int64))
        joints = f32("joints")
        self.neck, self.jaw, self.eyes = joints[0], joints[1], joints[2:4]
        self.light = f32("light")
        camera = json.loads(meta["camera"])
        assert (camera["cam_y"], camera["cam_d"], camera["focal_128"]) == (CAM_Y, CAM_D, FOCAL), "camera mismatch"
        self.ambient, self.diffuse = camera["ambient"], camera["diffuse"]
        palette = torch.tensor(guide["palette"], dtype=torch.float32)
        if palette.shape[0] <= int(self.region.max()):
            raise ValueError(f"guide palette has {palette.shape[0]} colours; the asset has region {int(self.region.max())}")
        self.colour = palette[self.region]
        self.size, self.ss = guide["size"], guide.get("supersample", 2)

    def pose(self, coeffs: torch.Tensor) -> torch.Tensor:
        """[B, 120] → posed vertices [B, N, 3] (world/head.py HeadModel.pose_vertices on the asset's arrays)."""
        from world.head import axis_angle_to_matrix, rot6d_to_matrix
        c = coeffs.float()
        v = self.template[None] + torch.einsum("bk,knc->bnc", c[:, 20:120], self.expr_basis)
        v = v + torch.einsum("bk,knc->bnc", c[:, 18:20], self.eyelid_basis)
        vj = torch.einsum("bij,bnj->bni", axis_angle_to_matrix(c[:, 15:18]), v - self.jaw) + self.jaw
        v = v + self.w_jaw[None, :, None] * (vj - v)
        for k, sl in enumerate((slice(3, 9), slice(9, 15))):
            m = self.eye_id == k + 1
            v[:, m] = torch.einsum("bij,bnj->bni", rot6d_to_matrix(c[:, sl]), v[:, m] - self.eyes[k]) + self.eyes[k]
        vg = torch.einsum("bij,bnj->bni", axis_angle_to_matrix(c[:, 0:3]), v - self.neck) + self.neck
        return v + self.w_global[None, :, None] * (vg - v)

    @torch.no_grad()
    def landmarks(self, coeffs) -> torch.Tensor:
        """coeffs [B, 120] → image positions (x, y) at guide size of the left eye, right eye and mouth centres
        [B, 3, 2] (the training loss weighs those regions more)."""
        from world.head import REGIONS
        from world.render import project
        v = self.pose(torch.as_tensor(np.asarray(coeffs), dtype=torch.float32).reshape(-1, 120))
        centres = torch.stack([v[:, self.eye_id == 1].mean(1), v[:, self.eye_id == 2].mean(1),
                               v[:, self.region == REGIONS["lips"]].mean(1)], 1)
        return project(centres, self.size)[..., :2]

    @torch.no_grad()
    def render(self, coeffs, regions: bool = False):
        """coeffs [B, 120] → guides [B, 3, size, size] in [0, 1]; with `regions`, also the region id of each
        pixel at size × supersample ([B, S, S], -1 background) for loss masks."""
        from world.render import project, rasterize, vertex_normals
        v = self.pose(torch.as_tensor(np.asarray(coeffs), dtype=torch.float32).reshape(-1, 120))
        n = vertex_normals(v, self.faces)
        S = self.size * self.ss
        scr = project(v, S)
        shade = (self.ambient + self.diffuse * (n @ self.light).clamp_min(0))[..., None]
        black = torch.zeros(S, S, 3)
        images, ids = [], []
        for b in range(v.shape[0]):
            img, tri = rasterize(scr[b], self.faces, (self.colour * shade[b]).clamp(0, 1), black, return_ids=True)
            images.append(F.avg_pool2d(img.permute(2, 0, 1)[None], self.ss)[0])
            if regions:
                ids.append(torch.where(tri >= 0, self.region[self.faces[tri.clamp_min(0), 0]], torch.full_like(tri, -1)))
        out = torch.stack(images)
        return (out, torch.stack(ids)) if regions else out
