"""Ray-cast scenes for the depth-hypothesis tests: what a depth camera sees, occlusions included.

A pinhole camera at the origin (optical frame: z forward, the window's fixed frame) casts one ray per pixel
of a small image; each ray keeps its nearest hit among the posed rectangles of every part (scenes.py's
``Part``: rectangles with a pose per frame). Every frame samples N of its hit pixels (as the run-time window
does), with optional depth noise along the ray, and the flow of each point is where its material point is
at the next frame, plus optional noise (an optical flow that does not see the motion). Nothing here is one
of the data engine's categories.
"""

from __future__ import annotations

import numpy as np
from scenes import Part, Scene


def raycast(parts: list[Part], T: int = 12, N: int = 900, width: int = 96, height: int = 72, fov_deg: float = 60.0,
            depth_noise_m: float = 0.0, flow_noise_m: float = 0.0, still_flow: list[int] | None = None,
            seed: int = 0) -> Scene:  # fmt: skip
    """Render ``parts`` over T frames (parts' poses at t / (T - 1)) as seen from the origin looking along +z.

    ``still_flow``: parts whose flow is replaced by zero (plus ``flow_noise_m``): the image flow missed them.
    """
    rng = np.random.default_rng(seed)
    f = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    rays = np.stack([(u - width / 2) / f, (v - height / 2) / f, np.ones_like(u)], -1).reshape(-1, 3)
    points = np.full((T, N, 3), np.nan)
    flow = np.zeros((T, N, 3))
    labels = np.full((T, N), -1, dtype=np.int64)
    valid = np.zeros((T, N), dtype=bool)
    for t in range(T):
        s, e = t / max(T - 1, 1), (t + 1) / max(T - 1, 1)
        best = np.full(len(rays), np.inf)
        owner = np.full(len(rays), -1)
        for k, part in enumerate(parts):
            P = part.pose(s)
            for c, eu, ev in part.rects:
                c = P[:3, :3] @ np.asarray(c, float) + P[:3, 3]
                eu, ev = P[:3, :3] @ np.asarray(eu, float), P[:3, :3] @ np.asarray(ev, float)
                n = np.cross(eu, ev)
                denom = rays @ n
                with np.errstate(divide="ignore", invalid="ignore"):
                    lam = (c @ n) / denom
                hit = rays * lam[:, None] - c
                inside = (np.abs(hit @ eu) <= 0.5 * eu @ eu) & (np.abs(hit @ ev) <= 0.5 * ev @ ev) & (lam > 0)
                closer = inside & (lam < best)
                best[closer], owner[closer] = lam[closer], k
        seen = np.flatnonzero(owner >= 0)
        pick = rng.choice(seen, size=min(N, len(seen)), replace=False)
        lam = best[pick] + rng.normal(0.0, depth_noise_m, len(pick)) if depth_noise_m else best[pick]
        x = rays[pick] * lam[:, None]
        n = len(pick)
        points[t, :n], labels[t, :n], valid[t, :n] = x, owner[pick], True
        for k, part in enumerate(parts):
            m = labels[t, :n] == k
            step = part.pose(e) @ np.linalg.inv(part.pose(s))
            fl = x[m] @ step[:3, :3].T + step[:3, 3] - x[m]
            if still_flow and k in still_flow:
                fl = np.zeros_like(fl)
            flow[t, :n][m] = fl
        if flow_noise_m:
            flow[t, :n] += rng.normal(0.0, flow_noise_m / np.sqrt(3), (n, 3))
    points = np.where(valid[..., None], points, 0.0)
    return Scene(points, flow, valid, labels)
