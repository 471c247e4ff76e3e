"""Storage1-6: cabinets that differ by the mix and layout of their moving fronts (see cabinet.py).

=========  ==========================================================  =================  ============
category   layout                                                      moving parts       size W/D/H m
=========  ==========================================================  =================  ============
Storage1   doors only: 1-3 columns of side-hinged (or double) doors,   1-3 revolute       0.35-1.2 /
           optional open niche above or below                                             0.3-0.6 / 0.4-1.8
Storage2   drawers only: chest of 2-5 stacked drawers, 1-2 columns     2-8 prismatic      0.4-1.4 /
                                                                                          0.35-0.6 / 0.5-1.3
Storage3   kitchen base unit: a row of 1-3 drawers above doors         2-5 mixed          0.4-1.2 /
                                                                                          0.45-0.65 / 0.7-0.95
Storage4   tall wardrobe: 2-3 full-height doors over 0-2 drawers      2-5 mixed          0.6-1.4 /
                                                                                          0.45-0.65 / 1.4-2.1
Storage5   sideboard grid: 2-4 columns x 1-3 cells of random drawers,  2-8 mixed          0.8-2.0 /
           doors, drop-down flaps, niches and panels                                      0.35-0.55 / 0.5-1.1
Storage6   horizontal hinges: a chest with a top lid (+0-2 drawers)    1-4, >= 1 about a  0.4-1.2 /
           or a cabinet of drop-down / lift-up flaps (+ drawers)       horizontal axis    0.35-0.6 / 0.4-1.2
=========  ==========================================================  =================  ============

Every instance also samples panel thickness, plinth (none, recessed, or legs), top overhang, colours,
textures and handle style/length, so thousands of visibly different instances exist per category.
"""

from __future__ import annotations

import math

from sim2art_core.data.objects.builder import Builder
from sim2art_core.data.objects.cabinet import CabinetStyle, add_drawer, build_carcass, build_front
from sim2art_core.data.objects.model import ArticulatedObject

MAX_MOVING = 8


def _cabinet(b: Builder, W, D, H, columns, *, top: bool = True) -> tuple[CabinetStyle, float, float]:
    style = CabinetStyle(b)
    plinth_kind = b.choice(("none", "recessed", "legs"))
    plinth = 0.0 if plinth_kind == "none" else b.uniform(0.04, 0.14)
    overhang = b.uniform(0.0, 0.03) if b.chance(0.4) else 0.0
    z0, z1 = build_carcass(b, W, D, H, style, plinth=plinth, legs=plinth_kind == "legs", top=top, overhang=overhang)
    build_front(b, W, D, z0, z1, style, columns, [0])
    return style, z0, z1


def _door_kind(b: Builder, col: int, ncols: int) -> str:
    if ncols == 1:
        return b.choice(("door_left", "door_right", "double_door"))
    if col == 0:
        return "door_left"
    if col == ncols - 1:
        return "door_right"
    return b.choice(("door_left", "door_right"))


def storage1(seed: int) -> ArticulatedObject:
    b = Builder("Storage1", seed)
    W, D, H = b.uniform(0.35, 1.2), b.uniform(0.3, 0.6), b.uniform(0.4, 1.8)
    ncols = 1 if W < 0.6 else b.integer(1, 3 if W > 0.9 else 2)
    niche = b.choice((None, "top", "bottom")) if H > 0.7 else None
    columns = []
    for c in range(ncols):
        cells = [(1.0, _door_kind(b, c, ncols))]
        if niche == "top":
            cells.append((0.35, "open"))
        elif niche == "bottom":
            cells.insert(0, (0.35, "open"))
        columns.append((1.0, cells))
    _cabinet(b, W, D, H, columns)
    return b.build()


def storage2(seed: int) -> ArticulatedObject:
    b = Builder("Storage2", seed)
    W, D, H = b.uniform(0.4, 1.4), b.uniform(0.35, 0.6), b.uniform(0.5, 1.3)
    ncols = 2 if W > 0.8 and b.chance(0.5) else 1
    rows = b.integer(2, 5) if ncols == 1 else b.integer(2, 4)
    graduated = b.chance(0.5)
    heights = [1.0 + (0.25 * (rows - 1 - r) if graduated else 0.0) for r in range(rows)]
    _cabinet(b, W, D, H, [(1.0, [(h, "drawer") for h in heights]) for _ in range(ncols)])
    return b.build()


def storage3(seed: int) -> ArticulatedObject:
    b = Builder("Storage3", seed)
    W, D, H = b.uniform(0.4, 1.2), b.uniform(0.45, 0.65), b.uniform(0.7, 0.95)
    ncols = 1 if W < 0.7 else b.integer(1, 2 if W < 1.0 else 3)
    drawer_h = b.uniform(0.18, 0.28)
    columns = []
    for c in range(ncols):
        below = _door_kind(b, c, ncols) if ncols > 1 or b.chance(0.7) else "double_door"
        columns.append((1.0, [(1.0 - drawer_h, below), (drawer_h, "drawer")]))
    _cabinet(b, W, D, H, columns)
    return b.build()


def storage4(seed: int) -> ArticulatedObject:
    b = Builder("Storage4", seed)
    W, D, H = b.uniform(0.6, 1.4), b.uniform(0.45, 0.65), b.uniform(1.4, 2.1)
    ndraw = b.integer(0, 2)
    dh = b.uniform(0.1, 0.15)
    ncols = 2 if W < 1.1 else b.integer(2, 3)
    if ncols == 2 and b.chance(0.5):
        # one double door over full-width drawers
        cells = [(dh, "drawer") for _ in range(ndraw)] + [(1.0 - ndraw * dh, "double_door")]
        columns = [(1.0, cells)]
    else:
        columns = []
        for c in range(ncols):
            door = "door_left" if c == 0 else "door_right" if c == ncols - 1 else b.choice(("door_left", "door_right"))
            cells = [(dh, "drawer") for _ in range(ndraw)] + [(1.0 - ndraw * dh, door)]
            columns.append((1.0, cells))
        _limit(columns)
    _cabinet(b, W, D, H, columns)
    return b.build()


def storage5(seed: int) -> ArticulatedObject:
    b = Builder("Storage5", seed)
    W, D, H = b.uniform(0.8, 2.0), b.uniform(0.35, 0.55), b.uniform(0.5, 1.1)
    ncols = b.integer(2, 4)
    kinds = ("drawer", "drawer", "door_left", "door_right", "flap_down", "open", "panel")
    while True:
        columns = []
        for _ in range(ncols):
            nrows = b.integer(1, 3)
            columns.append((b.uniform(0.7, 1.3), [(b.uniform(0.6, 1.4), b.choice(kinds)) for _ in range(nrows)]))
        flat = [k for _, cells in columns for _, k in cells]
        if "drawer" in flat and any(k.startswith(("door", "flap")) for k in flat):
            break
    _limit(columns)
    _cabinet(b, W, D, H, columns)
    return b.build()


def storage6(seed: int) -> ArticulatedObject:
    b = Builder("Storage6", seed)
    W, D, H = b.uniform(0.4, 1.2), b.uniform(0.35, 0.6), b.uniform(0.4, 1.2)
    if b.chance(0.5):
        # a chest: open-top carcass, lid hinged at the back top edge, optional drawers in the base
        ndraw = b.integer(0, 2) if H > 0.6 else 0
        ncols_d = 2 if (ndraw and W > 0.8 and b.chance(0.5)) else 1
        dh = b.uniform(0.15, 0.25)
        cells = [(dh, "drawer") for _ in range(ndraw)] + [(1.0 - ndraw * dh, "panel")]
        style, z0, z1 = _cabinet(b, W, D, H, [(1.0, list(cells)) for _ in range(ncols_d)], top=False)
        lid = b.link("lid", texture=style.front_texture)
        t = style.front
        o = b.uniform(0.0, 0.025)
        b.box(lid, ((D + o) / 2, 0.0, t / 2), (D + o, W + 2 * o, t), style.front_rgba)
        if b.chance(0.6):
            b.handle(lid, style.handle_style, (D + o, 0.0, t / 2), min(style.handle_length, 0.5 * W), False,
                     style.handle_rgba)  # fmt: skip
        b.joint("revolute", "body", lid, (-D / 2, 0.0, H), (0.0, -1.0, 0.0), 0.0, math.radians(b.uniform(70, 110)))
        return b.build()
    ncols = 1 if W < 0.7 else b.integer(1, 2)
    columns = []
    for _ in range(ncols):
        nrows = b.integer(1, 3)
        cells = [(b.uniform(0.6, 1.4), b.choice(("flap_down", "flap_up", "drawer", "flap_down"))) for _ in range(nrows)]
        columns.append((1.0, cells))
    if not any(k.startswith("flap") for _, cells in columns for _, k in cells):
        hf, _ = columns[0][1][-1]
        columns[0][1][-1] = (hf, "flap_down")
    _limit(columns)
    _cabinet(b, W, D, H, columns)
    return b.build()


def _limit(columns) -> None:
    """Turn surplus moving cells into fixed panels so that at most MAX_MOVING fronts move."""
    n = 0
    for _, cells in columns:
        for i, (hf, kind) in enumerate(cells):
            k = 2 if kind == "double_door" else 1 if kind not in ("open", "panel") else 0
            if n + k > MAX_MOVING:
                cells[i] = (hf, "panel")
            else:
                n += k


__all__ = ["add_drawer", "storage1", "storage2", "storage3", "storage4", "storage5", "storage6"]
