"""Table1 (tables with drawers) and Table2 (tables whose top moves).

=======  =====================================================================  ==============  =================
category variants                                                               moving parts    size W/D/H m
=======  =====================================================================  ==============  =================
Table1   (a) 1-3 drawers side by side in the front apron;                        1-4 prismatic   0.6-1.8 / 0.45-0.9
         (b) desk with a drawer pedestal (2-3 drawers) on one side (+0-1 apron                   / 0.6-0.8
         drawer)
Table2   (a) lift-top: the top hinged at its back edge over a storage well;      1-2             0.6-1.6 / 0.45-0.9
         (b) sliding top along x or y over a fixed frame (+0-1 apron drawer);                   / 0.45-0.8
         (c) drop-leaf: 1-2 side leaves hinged about x, hanging when closed
=======  =====================================================================  ==============  =================

Legs are boxes or cylinders, inset 0-6 cm from the top's edge; the apron is 6-16 cm high.
"""

from __future__ import annotations

import math

from sim2art_core.data.objects.builder import Builder
from sim2art_core.data.objects.cabinet import CabinetStyle, add_drawer
from sim2art_core.data.objects.model import ArticulatedObject


def _legs_and_apron(b: Builder, W, D, H, style: CabinetStyle, top_t: float, *, inset: float, apron_h: float,
                    front_apron: bool = True, skip_side: int = 0) -> tuple[float, float]:  # fmt: skip
    """Legs and apron of the static frame; returns (frame depth, frame width) between the legs' outer faces."""
    body, rgba, t = "body", style.body_rgba, style.panel
    leg = b.uniform(0.03, 0.06)
    round_legs = b.chance(0.4)
    fd, fw = D - 2 * inset, W - 2 * inset
    leg_h = H - top_t
    for sx in (-1, 1):
        for sy in (-1, 1):
            if sy == skip_side:
                continue
            c = (sx * (fd / 2 - leg / 2), sy * (fw / 2 - leg / 2), leg_h / 2)
            if round_legs:
                b.cylinder(body, c, leg / 2, leg_h, rgba)
            else:
                b.box(body, c, (leg, leg, leg_h), rgba)
    za = H - top_t - apron_h / 2
    b.box(body, (-fd / 2 + t / 2, 0.0, za), (t, fw - 2 * leg, apron_h), rgba)  # back apron
    for sy in (-1, 1):
        b.box(body, (0.0, sy * (fw / 2 - t / 2), za), (fd - 2 * leg, t, apron_h), rgba)
    if front_apron:
        b.box(body, (fd / 2 - t / 2, 0.0, za), (t, fw - 2 * leg, apron_h), rgba)
    return fd, fw


def table1(seed: int) -> ArticulatedObject:
    b = Builder("Table1", seed)
    W, D, H = b.uniform(0.6, 1.8), b.uniform(0.45, 0.9), b.uniform(0.6, 0.8)
    style = CabinetStyle(b)
    top_t = b.uniform(0.02, 0.045)
    inset = b.uniform(0.0, 0.06)
    apron_h = b.uniform(0.1, 0.16)
    body = b.link("body", texture=style.body_texture)
    b.box(body, (0.0, 0.0, H - top_t / 2), (D, W, top_t), style.body_rgba)
    counter = [0]
    za = H - top_t - apron_h / 2
    if b.chance(0.5) and W > 0.9:
        # desk with a pedestal of drawers on one side
        side = b.choice((-1, 1))
        fd, fw = _legs_and_apron(b, W, D, H, style, top_t, inset=inset, apron_h=apron_h, front_apron=False,
                                 skip_side=side)  # fmt: skip
        pw = b.uniform(0.32, 0.45)
        yc = side * (fw / 2 - pw / 2)
        z_lo, z_hi = b.uniform(0.0, 0.08), H - top_t - apron_h
        t = style.panel
        for s in (-1, 1):
            b.box(body, (0.0, yc + s * (pw / 2 - t / 2), (z_lo + z_hi) / 2), (fd, t, z_hi - z_lo), style.body_rgba)
        b.box(body, (-fd / 2 + t / 2, yc, (z_lo + z_hi) / 2), (t, pw - 2 * t, z_hi - z_lo), style.body_rgba)
        b.box(body, (0.0, yc, z_lo + t / 2), (fd, pw - 2 * t, t), style.body_rgba)
        n = b.integer(2, 3)
        h = (z_hi - z_lo - t) / n
        for k in range(n):
            add_drawer(b, fd, yc, z_lo + t + h * (k + 0.5), pw - 2 * t, h, style, counter)
        # front apron beside the pedestal, with an optional drawer in it
        rest_w = fw - pw
        rest_c = -side * (pw / 2)
        if b.chance(0.5) and rest_w > 0.4:
            dw = min(b.uniform(0.3, 0.6), rest_w - 0.1)
            for s in (-1, 1):
                piece = (rest_w - dw) / 2
                b.box(body, (fd / 2 - t / 2, rest_c + s * (dw / 2 + piece / 2), za), (t, piece, apron_h),
                      style.body_rgba)  # fmt: skip
            add_drawer(b, fd, rest_c, za, dw, apron_h, style, counter)
        else:
            b.box(body, (fd / 2 - t / 2, rest_c, za), (t, rest_w, apron_h), style.body_rgba)
        b.box(body, (fd / 2 - t / 2, yc, za), (t, pw, apron_h), style.body_rgba)
        return b.build()
    fd, fw = _legs_and_apron(b, W, D, H, style, top_t, inset=inset, apron_h=apron_h, front_apron=False)
    n = b.integer(1, 3 if W > 1.0 else 2)
    usable = fw - 0.12
    dw = min(b.uniform(0.25, 0.6), usable / n - 0.04)
    pitch = usable / n
    y = -usable / 2
    t = style.panel
    edges = [-fw / 2]
    for _ in range(n):
        yc = y + pitch / 2
        add_drawer(b, fd, yc, za, dw, apron_h, style, counter)
        edges += [yc - dw / 2, yc + dw / 2]
        y += pitch
    edges.append(fw / 2)
    for a, c in zip(edges[0::2], edges[1::2], strict=True):
        if c - a > 1e-3:
            b.box(body, (fd / 2 - t / 2, (a + c) / 2, za), (t, c - a, apron_h), style.body_rgba)
    return b.build()


def table2(seed: int) -> ArticulatedObject:
    b = Builder("Table2", seed)
    W, D, H = b.uniform(0.6, 1.6), b.uniform(0.45, 0.9), b.uniform(0.45, 0.8)
    style = CabinetStyle(b)
    top_t = b.uniform(0.02, 0.04)
    inset = b.uniform(0.0, 0.05)
    apron_h = b.uniform(0.06, 0.14)
    variant = b.choice(("lift", "slide", "leaf"))
    body = b.link("body", texture=style.body_texture)
    if variant == "lift":
        fd, fw = _legs_and_apron(b, W, D, H, style, 0.0, inset=inset, apron_h=apron_h + 0.02)
        # storage well: bottom panel inside the apron
        b.box(
            body, (0.0, 0.0, H - apron_h - 0.02 + style.panel / 2), (fd - 0.02, fw - 0.02, style.panel), style.body_rgba
        )
        top = b.link("top", texture=style.front_texture)
        b.box(top, (D / 2, 0.0, top_t / 2), (D, W, top_t), style.front_rgba)
        if b.chance(0.5):
            b.handle(top, style.handle_style, (D, 0.0, top_t / 2), min(style.handle_length, 0.4 * W), False,
                     style.handle_rgba)  # fmt: skip
        b.joint("revolute", body, top, (-D / 2, 0.0, H), (0.0, -1.0, 0.0), 0.0, math.radians(b.uniform(45, 85)))
    elif variant == "slide":
        frame_t = b.uniform(0.015, 0.03)
        fd, fw = _legs_and_apron(b, W, D, H - top_t, style, frame_t, inset=inset, apron_h=apron_h)
        b.box(body, (0.0, 0.0, H - top_t - frame_t / 2), (fd, fw, frame_t), style.body_rgba)
        top = b.link("top", texture=style.front_texture)
        b.box(top, (0.0, 0.0, top_t / 2), (D, W, top_t), style.front_rgba)
        along_y = b.chance(0.4)
        travel = b.uniform(0.3, 0.6) * (W if along_y else D)
        axis = (0.0, b.choice((-1.0, 1.0)), 0.0) if along_y else (1.0, 0.0, 0.0)
        b.joint("prismatic", body, top, (0.0, 0.0, H - top_t), axis, 0.0, travel)
    else:
        leaves = b.choice(((-1,), (1,), (-1, 1)))
        wl = b.uniform(0.15, min(0.45, H - 0.15))
        main_w = W
        fd, fw = _legs_and_apron(b, main_w, D, H, style, top_t, inset=max(inset, 0.04), apron_h=apron_h)
        b.box(body, (0.0, 0.0, H - top_t / 2), (D, main_w, top_t), style.body_rgba)
        for s in leaves:
            leaf = b.link(f"leaf_{'left' if s < 0 else 'right'}", texture=style.front_texture)
            b.box(leaf, (0.0, 0.0, -wl / 2), (D, top_t, wl), style.front_rgba)
            b.joint("revolute", body, leaf, (0.0, s * (main_w / 2 + top_t / 2), H - top_t / 2), (float(s), 0.0, 0.0),
                    0.0, math.radians(b.uniform(80, 92)))  # fmt: skip
    return b.build()
