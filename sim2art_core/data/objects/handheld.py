"""Eyeglasses and Scissors: small objects with two thin parts about pivots.

==========  ==================================================================  =====================  ==============
category    structure                                                           joints                 size
==========  ==================================================================  =====================  ==============
Eyeglasses  front frame standing upright (oval or rectangular rims, half-rim   2 revolute about       frame width
            or rimless; tinted or clear lenses; bridge) and two temples with  vertical axes at the   0.12-0.16 m,
            bent earpieces, hinged at the end pieces; q = 0 is open (worn)     end pieces, fold 0 to  temples
                                                                               80-95 deg inwards      0.12-0.15 m
Scissors    two crossed blades lying flat, each with a shank and a ring        1 revolute about the   blade 6-13 cm,
            handle; the lower blade is the static root, the upper one opens   vertical pivot axis,   ring radius
            about the pivot screw                                              0 to 35-70 deg         1.2-2.2 cm
==========  ==================================================================  =====================  ==============
"""

from __future__ import annotations

import math

import numpy as np

from sim2art_core.data.objects.builder import METALS, PAINTS, PLASTICS, Builder
from sim2art_core.data.objects.model import ArticulatedObject


def _ring(b: Builder, link: str, center, ry: float, rz: float, width: float, depth: float, rgba, *,
          plane: str, segments: int = 12, arc: tuple[float, float] = (0.0, 2 * math.pi)) -> None:  # fmt: skip
    """An elliptical ring of boxes. plane "yz": ring in the y-z plane (depth along x); "xy": flat (depth along z)."""
    c = np.asarray(center, dtype=float)
    a0, a1 = arc
    angles = np.linspace(a0, a1, segments + 1)
    for p, q in zip(angles[:-1], angles[1:], strict=True):
        u0, v0 = ry * math.cos(p), rz * math.sin(p)
        u1, v1 = ry * math.cos(q), rz * math.sin(q)
        mid = ((u0 + u1) / 2, (v0 + v1) / 2)
        length = math.hypot(u1 - u0, v1 - v0) * 1.15
        ang = math.atan2(v1 - v0, u1 - u0)
        if plane == "yz":
            b.box(link, (c[0], c[1] + mid[0], c[2] + mid[1]), (depth, length, width), rgba, rpy=(ang, 0.0, 0.0))
        else:
            b.box(link, (c[0] + mid[0], c[1] + mid[1], c[2]), (length, width, depth), rgba, rpy=(0.0, 0.0, ang))


def eyeglasses(seed: int) -> ArticulatedObject:
    b = Builder("Eyeglasses", seed)
    lw, lh = b.uniform(0.045, 0.06), b.uniform(0.03, 0.05)
    bw, e = b.uniform(0.014, 0.022), b.uniform(0.005, 0.012)
    Wf = bw + 2 * lw + 2 * e
    rim, fd = b.uniform(0.002, 0.005), b.uniform(0.003, 0.006)
    frame_rgba = b.colour(b.choice((PLASTICS, METALS, PAINTS)))
    tinted = b.chance(0.3)
    lens_rgba = b.colour(
        ((0.1, 0.1, 0.12), (0.25, 0.18, 0.1)) if tinted else ((0.8, 0.85, 0.9), (0.75, 0.8, 0.78)), 0.04
    )
    style = b.choice(("oval", "rect", "half", "rimless"))
    tex = b.choice(("noise", "speckle", "marble", "brushed"))
    frame = b.link("frame", texture=tex)
    zc = lh / 2 + rim + 0.001  # the rims' lowest segments rest just above z = 0
    for s in (-1, 1):
        yc = s * (bw / 2 + lw / 2)
        if style == "oval":
            _ring(b, frame, (0.0, yc, zc), lw / 2, lh / 2, rim, fd, frame_rgba, plane="yz")
        elif style == "rect":
            for sz in (-1, 1):
                b.box(frame, (0.0, yc, zc + sz * (lh / 2 - rim / 2)), (fd, lw, rim), frame_rgba)
                b.box(frame, (0.0, yc + sz * (lw / 2 - rim / 2), zc), (fd, rim, lh), frame_rgba)
        elif style == "half":
            _ring(
                b, frame, (0.0, yc, zc), lw / 2, lh / 2, rim, fd, frame_rgba, plane="yz", segments=6, arc=(0, math.pi)
            )
        # lens: three slabs approximating the ellipse
        for k in range(3):
            zk = (k - 1) * lh / 3
            half = lw / 2 * math.sqrt(max(0.0, 1.0 - (2 * zk / lh) ** 2)) * 0.95
            b.box(frame, (-0.001, yc, zc + zk), (0.0015, 2 * half, lh / 3), lens_rgba)
        # end piece towards the hinge
        b.box(frame, (-0.003, s * (Wf / 2 - e / 2), zc + 0.25 * lh), (0.006, e + 0.004, 0.006), frame_rgba)
    b.box(frame, (0.0, 0.0, zc + 0.25 * lh), (fd, bw + 0.004, 0.004), frame_rgba)  # bridge
    Lt = b.uniform(0.12, 0.15)
    tt, th = b.uniform(0.002, 0.004), b.uniform(0.004, 0.008)
    bend = math.radians(b.uniform(25, 45))
    temple_rgba = frame_rgba if b.chance(0.7) else b.colour(b.choice((PLASTICS, METALS)))
    fold = math.radians(b.uniform(80, 95))
    for s in (-1, 1):
        z_h = zc + 0.25 * lh + (0.003 if s < 0 else 0.0)  # stacked when folded
        name = b.link(f"temple_{'right' if s < 0 else 'left'}", texture=tex)
        b.box(name, (-Lt / 2, 0.0, 0.0), (Lt, tt, th), temple_rgba)
        le = max(0.02, (z_h - th / 2 - 0.001) / math.sin(bend))  # the earpiece's tip rests just above z = 0
        b.box(name, (-Lt - le / 2 * math.cos(bend), 0.0, -le / 2 * math.sin(bend)), (le, tt, th), temple_rgba,
              rpy=(0.0, -bend, 0.0))  # fmt: skip
        b.joint("revolute", frame, name, (-0.006, s * Wf / 2, z_h), (0.0, 0.0, float(s)), 0.0, fold)
    return b.build()


def scissors(seed: int) -> ArticulatedObject:
    b = Builder("Scissors", seed)
    Lb, wb = b.uniform(0.06, 0.13), b.uniform(0.01, 0.02)
    Ls, rr = b.uniform(0.02, 0.04), b.uniform(0.012, 0.022)
    tz = b.uniform(0.002, 0.004)
    blade_rgba = b.colour(METALS, jitter=0.03)
    handle_rgba = b.colour(PLASTICS)
    rw = b.uniform(0.004, 0.008)
    tex = "brushed"
    links = []
    for k, s in enumerate((-1, 1)):
        name = b.link("blade_lower" if k == 0 else "blade_upper", texture=tex)
        links.append(name)
        z = tz / 2 + k * tz
        b.box(name, (0.6 * Lb / 2, s * wb / 4, z), (0.6 * Lb, wb, tz), blade_rgba)
        b.box(name, (0.6 * Lb + 0.2 * Lb, s * wb / 4 - s * wb / 6, z), (0.4 * Lb, wb * 0.55, tz), blade_rgba)
        ring_c = (-Ls - rr, -s * (rr + 0.003), z)
        ang = math.atan2(ring_c[1], ring_c[0])
        shank = math.hypot(ring_c[0], ring_c[1]) - rr
        b.box(name, (shank / 2 * math.cos(ang), shank / 2 * math.sin(ang), z), (shank, rw, tz), handle_rgba,
              rpy=(0.0, 0.0, ang))  # fmt: skip
        _ring(b, name, ring_c, rr, rr * b.uniform(0.7, 1.0), rw, tz, handle_rgba, plane="xy", segments=10)
    b.cylinder(links[0], (0.0, 0.0, 2 * tz + 0.001), 0.004, 0.002, blade_rgba)  # pivot screw head
    b.joint("revolute", links[0], links[1], (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 0.0, math.radians(b.uniform(35, 70)))
    return b.build()
