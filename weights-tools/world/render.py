"""Deterministic z-buffered triangle rasteriser (torch, CPU) for the procedural head.

Camera: pinhole at (0, CAM_Y, CAM_D) looking down -z, image x = world x, image y = -world y;
pixel = (W/2 + F*x/(CAM_D - z), H/2 - F*(y - CAM_Y)/(CAM_D - z)) with F = FOCAL*W/128.
Shading: per-vertex (Gouraud) Lambert + ambient, colour * (AMBIENT + DIFFUSE * max(0, n.l)), light in camera space.
Rasterisation: back-face culling, then triangles are binned by bounding-box size (2, 4, 8, ... px); each
bin tests the pixels of its K x K box at once, and the z-test is one scatter-amin over a 64-bit key
(quantised depth << 24 | triangle id), so the nearest triangle wins deterministically (ties -> lower id).
Supersampling (`ss`, default 2) renders at ss*W and box-filters down for anti-aliased edges.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .head import HeadModel, Identity, identity_mesh

CAM_Y, CAM_D, FOCAL = -0.12, 9.0, 430.0
AMBIENT, DIFFUSE = 0.42, 0.68


def vertex_normals(v: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    p = v[:, faces]  # [B, F, 3, 3]
    fn = torch.cross(p[:, :, 1] - p[:, :, 0], p[:, :, 2] - p[:, :, 0], dim=-1)
    n = torch.zeros_like(v)
    n.index_add_(1, faces.reshape(-1), fn.repeat_interleave(3, dim=1))
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def project(v: torch.Tensor, size: int):
    f = FOCAL * size / 128
    d = CAM_D - v[..., 2]
    x = size / 2 + f * v[..., 0] / d
    y = size / 2 - f * (v[..., 1] - CAM_Y) / d
    return torch.stack([x, y, d], -1)


def background(ident: Identity, size: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    t = (xx * np.cos(ident.bg_angle) + yy * np.sin(ident.bg_angle)) * 0.5 + 0.5
    a, b = torch.tensor(ident.bg[0], dtype=torch.float32), torch.tensor(ident.bg[1], dtype=torch.float32)
    return a * (1 - t[..., None]) + b * t[..., None]


def rasterize(scr: torch.Tensor, faces: torch.Tensor, vcol: torch.Tensor, bg: torch.Tensor, return_ids: bool = False):
    """scr [N,3] pixel x, y, depth; faces [F,3]; vcol [N,3] shaded colours; bg [H,W,3] -> image [H,W,3]
    (and, with return_ids, the visible triangle per pixel [H,W], -1 for background)."""
    H, W = bg.shape[:2]
    p = scr[faces]  # [F, 3, 3]
    x0, y0 = p[:, 0, 0], p[:, 0, 1]
    e1x, e1y = p[:, 1, 0] - x0, p[:, 1, 1] - y0
    e2x, e2y = p[:, 2, 0] - x0, p[:, 2, 1] - y0
    area = e1x * e2y - e1y * e2x
    # Image y points down, so counter-clockwise in the world (outward) is negative area here.
    keep = area < -1e-9
    xmin = p[:, :, 0].min(1).values.floor().clamp(0, W - 1)
    xmax = p[:, :, 0].max(1).values.ceil().clamp(0, W - 1)
    ymin = p[:, :, 1].min(1).values.floor().clamp(0, H - 1)
    ymax = p[:, :, 1].max(1).values.ceil().clamp(0, H - 1)
    keep &= (p[:, :, 0].max(1).values >= 0) & (p[:, :, 0].min(1).values <= W) & (p[:, :, 1].max(1).values >= 0) & (p[:, :, 1].min(1).values <= H)
    ext = torch.maximum(xmax - xmin, ymax - ymin) + 1
    ids_all = torch.nonzero(keep).squeeze(1)
    best = torch.full((H * W,), torch.iinfo(torch.int64).max, dtype=torch.int64)
    inv_area = 1.0 / torch.where(keep, area, torch.ones_like(area))
    lo = 0
    K = 2
    while True:
        sel = ids_all[(ext[ids_all] > lo) & (ext[ids_all] <= K)]
        if len(sel):
            oy, ox = torch.meshgrid(torch.arange(K), torch.arange(K), indexing="ij")
            px = xmin[sel, None] + ox.reshape(1, -1)
            py = ymin[sel, None] + oy.reshape(1, -1)
            cx, cy = px + 0.5 - x0[sel, None], py + 0.5 - y0[sel, None]
            ia = inv_area[sel, None]
            b1 = (cx * e2y[sel, None] - cy * e2x[sel, None]) * ia
            b2 = (e1x[sel, None] * cy - e1y[sel, None] * cx) * ia
            b0 = 1 - b1 - b2
            inside = (b0 >= 0) & (b1 >= 0) & (b2 >= 0) & (px < W) & (py < H)
            z = b0 * p[sel, 0, 2, None] + b1 * p[sel, 1, 2, None] + b2 * p[sel, 2, 2, None]
            zq = (z.clamp(0, 64) * (2 ** 32 / 64)).to(torch.int64)
            key = (zq << 24) | sel[:, None]
            pix = (py * W + px).to(torch.int64)
            with warnings.catch_warnings():  # torch 1.13 calls scatter_reduce beta; its amin is what we need
                warnings.simplefilter("ignore")
                best.scatter_reduce_(0, pix[inside], key[inside], reduce="amin", include_self=True)
        lo = K
        if K >= max(H, W):
            break
        K *= 2
    hit = best != torch.iinfo(torch.int64).max
    out = bg.reshape(-1, 3).clone()
    pi = torch.nonzero(hit).squeeze(1)
    tri = best[pi] & ((1 << 24) - 1)
    px, py = (pi % W).float() + 0.5, (pi // W).float() + 0.5
    cx, cy = px - x0[tri], py - y0[tri]
    b1 = (cx * e2y[tri] - cy * e2x[tri]) * inv_area[tri]
    b2 = (e1x[tri] * cy - e1y[tri] * cx) * inv_area[tri]
    b0 = 1 - b1 - b2
    f = faces[tri]
    c = b0[:, None] * vcol[f[:, 0]] + b1[:, None] * vcol[f[:, 1]] + b2[:, None] * vcol[f[:, 2]]
    out[pi] = c
    if return_ids:
        ids = torch.full((H * W,), -1, dtype=torch.int64)
        ids[pi] = tri
        return out.reshape(H, W, 3), ids.reshape(H, W)
    return out.reshape(H, W, 3)


class Renderer:
    """Renders coefficient frames of one identity: `render(coeffs [B,120]) -> uint8 [B, size, size, 3]`."""

    def __init__(self, model: HeadModel, ident: Identity, size: int = 128, ss: int = 2):
        self.model, self.ident, self.size, self.ss = model, ident, size, ss
        self.template, self.colour = identity_mesh(model, ident)
        self.bg = background(ident, size * ss)
        self.light = torch.tensor(ident.light, dtype=torch.float32)

    @torch.no_grad()
    def render_float(self, coeffs) -> torch.Tensor:
        v = self.model.pose_vertices(torch.as_tensor(np.asarray(coeffs), dtype=torch.float32), self.template)
        n = vertex_normals(v, self.model.faces)
        S = self.size * self.ss
        scr = project(v, S)
        shade = (AMBIENT + DIFFUSE * (n @ self.light).clamp_min(0))[..., None]
        outs = []
        for b in range(v.shape[0]):
            img = rasterize(scr[b], self.model.faces, (self.colour * shade[b]).clamp(0, 1), self.bg)
            if self.ss > 1:
                img = torch.nn.functional.avg_pool2d(img.permute(2, 0, 1)[None], self.ss)[0].permute(1, 2, 0)
            outs.append(img)
        return torch.stack(outs)

    @torch.no_grad()
    def render_regions(self, coeffs) -> np.ndarray:
        """Region id (head.REGIONS) of the visible surface per pixel at full size, -1 for background: [B, H, W]."""
        v = self.model.pose_vertices(torch.as_tensor(np.asarray(coeffs), dtype=torch.float32), self.template)
        scr = project(v, self.size)
        reg_f = self.model.region[self.model.faces[:, 0]]
        outs = []
        for b in range(v.shape[0]):
            _, ids = rasterize(scr[b], self.model.faces, self.colour, self.bg[:: self.ss, :: self.ss], return_ids=True)
            outs.append(torch.where(ids >= 0, reg_f[ids.clamp_min(0)], torch.full_like(ids, -1)))
        return torch.stack(outs).numpy()

    def render(self, coeffs) -> np.ndarray:
        return (self.render_float(coeffs).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
