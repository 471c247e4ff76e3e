"""Fan: a rotor of 3-6 pitched blades turning about one axis (a continuous joint).

Variants: desk fan (pole 0.12-0.35 m), standing fan (pole 0.6-1.1 m), both with a base disc, a motor
head tilted -20..+15 deg (a separate link on a *fixed* joint, so it merges into the root part) and an
optional guard ring; or a box fan (square frame on feet, rotor inside). Blade span 0.08-0.22 m,
hub radius 2-4 cm, blade pitch 15-35 deg. The rotor joint is continuous (revolute without limits)
about the head's +x axis.
"""

from __future__ import annotations

import math

from scipy.spatial.transform import Rotation

from sim2art_core.data.objects.builder import METALS, PAINTS, PLASTICS, Builder
from sim2art_core.data.objects.handheld import _ring
from sim2art_core.data.objects.model import ArticulatedObject


def fan(seed: int) -> ArticulatedObject:
    b = Builder("Fan", seed)
    body_rgba = b.colour(b.choice((PLASTICS, PAINTS)))
    blade_rgba = b.colour(b.choice((PLASTICS, METALS)))
    tex = b.choice(("noise", "speckle", "brushed"))
    blade_len = b.uniform(0.08, 0.22)
    hub_r, hub_l = b.uniform(0.02, 0.04), b.uniform(0.02, 0.04)
    n_blades = b.integer(3, 6)
    span = hub_r + blade_len
    base = b.link("base", texture=tex)
    variant = b.choice(("desk", "standing", "box"))
    if variant == "box":
        depth, bar = b.uniform(0.08, 0.14), b.uniform(0.02, 0.04)
        side = 2 * (span + bar) + 0.02
        zc = side / 2 + 0.03
        for s in (-1, 1):
            b.box(base, (0.0, 0.0, zc + s * (side / 2 - bar / 2)), (depth, side, bar), body_rgba)
            b.box(base, (0.0, s * (side / 2 - bar / 2), zc), (depth, bar, side), body_rgba)
            b.box(base, (0.0, s * side / 3, 0.015), (depth * 1.4, 0.05, 0.03), body_rgba)  # feet
        b.box(base, (-depth / 2 + 0.01, 0.0, zc), (0.02, 0.05, side - 2 * bar), body_rgba)  # motor strut
        b.cylinder(base, (-0.02, 0.0, zc), hub_r * 1.2, 0.04, body_rgba, axis="x")
        parent, origin = base, (0.01, 0.0, zc)
    else:
        rb, hb = b.uniform(0.08, 0.18), b.uniform(0.02, 0.04)
        pole = b.uniform(0.12, 0.35) if variant == "desk" else b.uniform(0.6, 1.1)
        pole = max(pole, span + 0.06 - hb)  # blades clear the floor
        pr = b.uniform(0.01, 0.02)
        b.cylinder(base, (0.0, 0.0, hb / 2), rb, hb, body_rgba)
        b.cylinder(base, (0.0, 0.0, hb + pole / 2), pr, pole, body_rgba)
        head = b.link("head", texture=tex)
        mr, ml = b.uniform(0.04, 0.07), b.uniform(0.06, 0.12)
        b.cylinder(head, (-ml / 2, 0.0, 0.0), mr, ml, body_rgba, axis="x")
        if b.chance(0.5):
            ring_r = span + 0.015
            for x in (0.03, -0.01):
                _ring(b, head, (x, 0.0, 0.0), ring_r, ring_r, 0.004, 0.004, body_rgba, plane="yz", segments=16)
        tilt = math.radians(b.uniform(-20, 15))
        b.joint("fixed", base, head, (0.0, 0.0, hb + pole + mr * 0.5), (1.0, 0.0, 0.0), rpy=(0.0, tilt, 0.0))
        parent, origin = head, (0.01, 0.0, 0.0)
    rotor = b.link("rotor", texture=tex)
    b.cylinder(rotor, (hub_l / 2, 0.0, 0.0), hub_r, hub_l, blade_rgba, axis="x")
    width, pitch = b.uniform(0.04, 0.09), math.radians(b.uniform(15, 35))
    for k in range(n_blades):
        phi = 2 * math.pi * k / n_blades
        # blade along local z (radial), pitched about its own radial axis, then spun about x by phi
        R = Rotation.from_euler("x", phi) * Rotation.from_euler("z", pitch)
        center = Rotation.from_euler("x", phi).apply((hub_l / 2, 0.0, hub_r + blade_len / 2))
        b.box(rotor, tuple(center), (0.003, width, blade_len), blade_rgba, rpy=tuple(R.as_euler("xyz")))
    b.joint("continuous", parent, rotor, origin, (1.0, 0.0, 0.0))
    return b.build()
