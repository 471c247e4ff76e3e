"""A parametric cabinet: a carcass whose front is a grid of cells with drawers, doors and flaps.

Used by the Storage1-6 and Table generators. Layout: ``columns`` from left (-y) to right (+y), each a
width fraction and a list of cells from bottom to top, each a height fraction and a kind:

* ``drawer``: prismatic along +x, opens by 60-95 % of its tray depth.
* ``door_left`` / ``door_right``: revolute about a vertical axis at the left / right edge, 85-115 deg.
* ``double_door``: two doors hinged at both edges of the cell.
* ``flap_down``: revolute about a horizontal axis at the bottom edge (drop-down front), 75-92 deg.
* ``flap_up``: revolute about a horizontal axis at the top edge (lift-up front), 70-100 deg.
* ``open``: an open niche (static), ``panel``: a fixed front panel (static).

All moving fronts are inset flush with the front plane x = D/2 with a 3 mm gap; every door, drawer
and flap is one part attached to the body (the root).
"""

from __future__ import annotations

import math

from sim2art_core.data.objects.builder import HANDLE_STYLES, METALS, PAINTS, PLASTICS, WOODS, Builder

GAP = 0.003
MOVING_KINDS = ("drawer", "door_left", "door_right", "double_door", "flap_down", "flap_up")
CELL_KINDS = (*MOVING_KINDS, "open", "panel")


class CabinetStyle:
    """Per-instance materials and proportions drawn once per object."""

    def __init__(self, b: Builder):
        self.panel = b.uniform(0.012, 0.025)  # carcass panel thickness
        self.front = b.uniform(0.015, 0.025)  # door / drawer front thickness
        wood = b.chance(0.5)
        self.body_rgba = b.colour(WOODS if wood else PAINTS)
        self.body_texture = b.choice(("wood", "grain", "noise") if wood else ("noise", "speckle", "grain"))
        if b.chance(0.5):
            self.front_rgba, self.front_texture = self.body_rgba, self.body_texture
        else:
            self.front_rgba = b.colour(b.choice((WOODS, PAINTS)))
            self.front_texture = b.choice(("wood", "grain", "noise", "fabric", "marble", "speckle"))
        self.handle_rgba = b.colour(b.choice((METALS, PLASTICS)), jitter=0.03)
        self.handle_style = b.choice(HANDLE_STYLES)
        self.handle_length = b.uniform(0.06, 0.16)
        # Set by the broader families (furniture.py) after construction; no random draw here, so the
        # paper's Storage/Table categories stay bit-identical. Moving fronts sit ``front_offset`` m in
        # front of (> 0: proud / overlay) or behind (< 0: recessed) the carcass front plane x = D/2.
        self.front_offset = 0.0


def build_carcass(b: Builder, W: float, D: float, H: float, style: CabinetStyle, *, plinth: float, legs: bool,
                  top: bool = True, overhang: float = 0.0) -> tuple[float, float]:  # fmt: skip
    """Add the static body (link "body") and return (z0, z1) of the front opening."""
    t, rgba = style.panel, style.body_rgba
    body = b.link("body", texture=style.body_texture)
    if plinth > 0:
        if legs:
            r = b.uniform(0.015, 0.03)
            for sx in (-1, 1):
                for sy in (-1, 1):
                    b.cylinder(body, (sx * (D / 2 - 2 * r), sy * (W / 2 - 2 * r), plinth / 2), r, plinth, rgba)
        else:
            b.box(body, (-0.02, 0.0, plinth / 2), (D - 0.06, W - 0.04, plinth), rgba)
    b.box(body, (0.0, 0.0, plinth + t / 2), (D, W, t), rgba)  # bottom
    if top:
        o = overhang
        b.box(body, (o / 2, 0.0, H - t / 2), (D + o, W + 2 * o, t), rgba)
    top_z = H - t if top else H
    side_h = top_z - plinth - t
    for s in (-1, 1):
        b.box(body, (0.0, s * (W / 2 - t / 2), plinth + t + side_h / 2), (D, t, side_h), rgba)
    b.box(body, (-D / 2 + t / 2, 0.0, plinth + t + side_h / 2), (t, W - 2 * t, side_h), rgba)  # back
    return plinth + t, top_z


def build_front(b: Builder, W: float, D: float, z0: float, z1: float, style: CabinetStyle,
                columns: list[tuple[float, list[tuple[float, str]]]], counter: list[int]) -> None:  # fmt: skip
    """Add dividers, static fronts and the moving fronts of the cell grid to the object."""
    t = style.panel
    inner_w = W - 2 * t
    y = -W / 2 + t
    total_w = sum(c[0] for c in columns)
    for ci, (wf, cells) in enumerate(columns):
        cw = inner_w * wf / total_w
        y0, y1 = y, y + cw
        if ci > 0:  # vertical divider on the left of this column
            b.box("body", (0.0, y0, (z0 + z1) / 2), (D - t, t, z1 - z0), style.body_rgba)
        total_h = sum(c[0] for c in cells)
        z = z0
        for ri, (hf, kind) in enumerate(cells):
            ch = (z1 - z0) * hf / total_h
            if ri > 0:  # shelf below this cell
                b.box("body", (t / 2, (y0 + y1) / 2, z), (D - t, y1 - y0, t), style.body_rgba)
            _cell(b, D, y0 + (t / 2 if ci > 0 else 0.0), y1 - (t / 2 if ci < len(columns) - 1 else 0.0),
                  z + (t / 2 if ri > 0 else 0.0), z + ch - (t / 2 if ri < len(cells) - 1 else 0.0), kind, style,
                  counter)  # fmt: skip
            z += ch
        y = y1


def _cell(b: Builder, D: float, y0: float, y1: float, z0: float, z1: float, kind: str, style: CabinetStyle,
          counter: list[int]) -> None:  # fmt: skip
    if kind not in CELL_KINDS:
        raise ValueError(f"unknown cabinet cell kind {kind!r}")
    w, h = y1 - y0, z1 - z0
    yc, zc = (y0 + y1) / 2, (z0 + z1) / 2
    tf, g = style.front, GAP
    if kind == "panel":
        b.box("body", (D / 2 - tf / 2, yc, zc), (tf, w - 2 * g, h - 2 * g), style.front_rgba)
        return
    if kind == "open":
        return
    if kind in ("door_left", "door_right", "double_door", "flap_down", "flap_up") and h > 0.25:
        # a shelf behind the front, visible once it opens
        b.box("body", (0.0, yc, zc), (D - 2 * style.panel - 0.02, w, style.panel), style.body_rgba)
    if kind == "drawer":
        add_drawer(b, D, yc, zc, w, h, style, counter)
    elif kind in ("door_left", "door_right"):
        add_door(b, D, y0 + g if kind == "door_left" else y1 - g, zc, w - 2 * g, h - 2 * g,
                 -1 if kind == "door_left" else 1, style, counter)  # fmt: skip
    elif kind == "double_door":
        half = (w - 3 * g) / 2
        add_door(b, D, y0 + g, zc, half, h - 2 * g, -1, style, counter)
        add_door(b, D, y1 - g, zc, half, h - 2 * g, 1, style, counter)
    else:
        add_flap(b, D, yc, z0 + g if kind == "flap_down" else z1 - g, w - 2 * g, h - 2 * g, kind == "flap_down",
                 style, counter)  # fmt: skip


def _next(counter: list[int], kind: str) -> str:
    counter[0] += 1
    return f"{kind}_{counter[0]}"


def add_drawer(b: Builder, D: float, yc: float, zc: float, w: float, h: float, style: CabinetStyle,
               counter: list[int], parent: str = "body") -> None:  # fmt: skip
    """A drawer whose front (w x h incl. gaps) is centred at (D/2, yc, zc) of ``parent``, sliding along +x."""
    tf, g, ts = style.front, GAP, 0.01
    name = b.link(_next(counter, "drawer"), texture=style.front_texture)
    fw, fh = w - 2 * g, h - 2 * g
    b.box(name, (-tf / 2, 0.0, 0.0), (tf, fw, fh), style.front_rgba)
    depth = max(0.08, b.uniform(0.65, 0.9) * (D - style.panel - tf - 0.01))
    tray_h = max(0.03, b.uniform(0.5, 0.8) * fh)
    zb = -fh / 2 + 0.01
    xc = -(tf + depth / 2)
    for side in (-1, 1):
        b.box(name, (xc, side * (fw / 2 - ts / 2 - 0.01), zb + tray_h / 2), (depth, ts, tray_h), style.body_rgba)
    b.box(name, (-(tf + depth - ts / 2), 0.0, zb + tray_h / 2), (ts, fw - 0.02, tray_h), style.body_rgba)
    b.box(name, (xc, 0.0, zb + ts / 2), (depth, fw - 0.02, ts), style.body_rgba)
    hl = min(style.handle_length, 0.6 * fw)
    hz = 0.0 if fh < 0.25 else fh * 0.3
    b.handle(name, style.handle_style, (0.0, 0.0, hz), hl, False, style.handle_rgba)
    x = D / 2 + style.front_offset
    b.joint("prismatic", parent, name, (x, yc, zc), (1.0, 0.0, 0.0), 0.0, b.uniform(0.6, 0.95) * depth)


def add_door(b: Builder, D: float, y_hinge: float, zc: float, w: float, h: float, side: int,
             style: CabinetStyle, counter: list[int]) -> None:  # fmt: skip
    """A door of size w x h hinged at y_hinge on the front plane; side -1 = hinge on the left."""
    tf = style.front
    name = b.link(_next(counter, "door"), texture=style.front_texture)
    b.box(name, (-tf / 2, -side * w / 2, 0.0), (tf, w, h), style.front_rgba)
    hl = min(style.handle_length, 0.5 * h)
    b.handle(name, style.handle_style, (0.0, -side * (w - 0.045), 0.0), hl, True, style.handle_rgba)
    b.joint("revolute", "body", name, (D / 2 + style.front_offset, y_hinge, zc), (0.0, 0.0, float(side)), 0.0,
            math.radians(b.uniform(85, 115)))  # fmt: skip


def add_flap(b: Builder, D: float, yc: float, z_hinge: float, w: float, h: float, down: bool, style: CabinetStyle,
             counter: list[int]) -> None:  # fmt: skip
    """A front flap hinged at its bottom (down=True, drop-down) or top edge (lift-up)."""
    tf = style.front
    name = b.link(_next(counter, "flap"), texture=style.front_texture)
    s = 1.0 if down else -1.0
    b.box(name, (-tf / 2, 0.0, s * h / 2), (tf, w, h), style.front_rgba)
    hl = min(style.handle_length, 0.6 * w)
    b.handle(name, style.handle_style, (0.0, 0.0, s * (h - 0.04)), hl, False, style.handle_rgba)
    limit = b.uniform(75, 92) if down else b.uniform(70, 100)
    b.joint("revolute", "body", name, (D / 2 + style.front_offset, yc, z_hinge), (0.0, s, 0.0), 0.0,
            math.radians(limit))  # fmt: skip
