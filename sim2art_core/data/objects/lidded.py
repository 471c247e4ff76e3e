"""Box, Laptop and Stapler: a static base and one or two lids on horizontal hinges.

Sizes: x (depth) / y (width) / z (height) in m.

* **Box**: an open box (bottom + 4 walls, 0.08-0.4 / 0.1-0.5 / 0.05-0.35, walls 4-20 mm) with one lid
  hinged at the back, left or right top edge (optional skirt and knob), or (20 %) two side flaps.
  1 revolute joint (2 with flaps), 0 to 90-120 deg.
* **Laptop**: a base (0.19-0.28 / 0.28-0.4, 12-25 mm thick) with keyboard and touchpad insets and a lid
  (5-12 mm) with a screen, hinged at the back top edge. 1 revolute joint, 0 to 110-150 deg.
* **Stapler**: a base (0.12-0.22 / 0.03-0.05 / 8-20 mm; optionally rounded front, anvil plate) and a top
  arm (20-35 mm high) hinged at the back. 1 revolute joint, 0 to 25-80 deg.
"""

from __future__ import annotations

import math

from sim2art_core.data.objects.builder import METALS, PAINTS, PLASTICS, WOODS, Builder
from sim2art_core.data.objects.model import ArticulatedObject


def box(seed: int) -> ArticulatedObject:
    b = Builder("Box", seed)
    D, W, H = b.uniform(0.08, 0.4), b.uniform(0.1, 0.5), b.uniform(0.05, 0.35)
    t = b.uniform(0.004, min(0.02, 0.1 * min(D, W)))
    material = b.choice((WOODS, PAINTS, PLASTICS))
    rgba = b.colour(material)
    tex = b.choice(("wood", "grain") if material is WOODS else ("noise", "speckle", "fabric", "marble"))
    lid_rgba = rgba if b.chance(0.6) else b.colour(b.choice((WOODS, PAINTS, PLASTICS)))
    lid_t = b.uniform(0.004, 0.02)
    base = b.link("base", texture=tex)
    Hb = H - lid_t
    b.box(base, (0.0, 0.0, t / 2), (D, W, t), rgba)
    for s in (-1, 1):
        b.box(base, (s * (D / 2 - t / 2), 0.0, Hb / 2), (t, W, Hb), rgba)
        b.box(base, (0.0, s * (W / 2 - t / 2), Hb / 2), (D - 2 * t, t, Hb), rgba)
    if b.chance(0.2):
        # two flaps hinged at the left and right top edges, meeting in the middle
        for s in (-1, 1):
            flap = b.link(f"flap_{'left' if s < 0 else 'right'}", texture=tex)
            b.box(flap, (W / 4, 0.0, lid_t / 2), (W / 2 - 0.002, D, lid_t), lid_rgba)
            yaw = math.pi / 2 if s < 0 else -math.pi / 2  # hinge frame's +x points to the box centre
            b.joint("revolute", base, flap, (0.0, s * W / 2, Hb), (0.0, -1.0, 0.0), 0.0,
                    math.radians(b.uniform(90, 120)), rpy=(0.0, 0.0, yaw))  # fmt: skip
        return b.build()
    hinge = b.choice(("back", "back", "left", "right"))
    # Lid built in a hinge frame: hinge line along y at x = 0, lid extending along +x by L, width Wl.
    if hinge == "back":
        L, Wl, xyz, yaw = D, W, (-D / 2, 0.0, Hb), 0.0
    else:
        s = -1 if hinge == "left" else 1
        L, Wl, xyz, yaw = W, D, (0.0, s * W / 2, Hb), (math.pi / 2 if s < 0 else -math.pi / 2)
    o = b.uniform(0.0, 0.015)
    lid = b.link("lid", texture=tex)
    b.box(lid, (L / 2, 0.0, lid_t / 2), (L + o, Wl + 2 * o, lid_t), lid_rgba)
    if b.chance(0.4):
        skirt = b.uniform(0.01, 0.3 * Hb)
        st = 0.004
        for sy in (-1, 1):
            b.box(lid, (L / 2, sy * (Wl / 2 + o - st / 2), -skirt / 2), (L + o, st, skirt), lid_rgba)
        b.box(lid, (L + o / 2 - st / 2, 0.0, -skirt / 2), (st, Wl + 2 * o, skirt), lid_rgba)
    if b.chance(0.5):
        b.handle(lid, b.choice(("knob", "pull")), (0.75 * L, 0.0, lid_t), min(0.05, 0.4 * Wl), False,
                 b.colour(METALS), normal="+z")  # fmt: skip
    b.joint("revolute", base, lid, xyz, (0.0, -1.0, 0.0), 0.0, math.radians(b.uniform(90, 120)), rpy=(0.0, 0.0, yaw))
    return b.build()


def laptop(seed: int) -> ArticulatedObject:
    b = Builder("Laptop", seed)
    D, W, tb = b.uniform(0.19, 0.28), b.uniform(0.28, 0.4), b.uniform(0.012, 0.025)
    tl = b.uniform(0.005, 0.012)
    shell = b.colour(b.choice((METALS, PLASTICS)))
    tex = b.choice(("brushed", "noise", "speckle"))
    base = b.link("base", texture=tex)
    b.box(base, (0.0, 0.0, tb / 2), (D, W, tb), shell)
    dark = b.colour(((0.08, 0.08, 0.09), (0.2, 0.2, 0.22), (0.85, 0.85, 0.87)), jitter=0.03)
    kb_d = b.uniform(0.38, 0.5) * D
    b.box(base, (-D / 2 + 0.02 + kb_d / 2, 0.0, tb + 0.0005), (kb_d, b.uniform(0.8, 0.9) * W, 0.001), dark)
    b.box(base, (D / 2 - 0.015 - 0.3 * D / 2, 0.0, tb + 0.0005), (0.3 * D, b.uniform(0.25, 0.4) * W, 0.001),
          b.colour(METALS, jitter=0.03))  # fmt: skip
    lid = b.link("lid", texture=tex)
    lid_rgba = shell if b.chance(0.7) else b.colour(PLASTICS)
    b.box(lid, (D / 2, 0.0, tl / 2), (D, W, tl), lid_rgba)
    bezel = b.uniform(0.006, 0.02)
    screen = b.colour(((0.05, 0.06, 0.1), (0.1, 0.15, 0.3), (0.02, 0.02, 0.02)), jitter=0.03)
    b.box(lid, (D / 2 + bezel / 2, 0.0, -0.0005), (D - 3 * bezel, W - 2 * bezel, 0.001), screen)
    b.joint("revolute", base, lid, (-D / 2, 0.0, tb + 0.001), (0.0, -1.0, 0.0), 0.0, math.radians(b.uniform(110, 150)))
    return b.build()


def stapler(seed: int) -> ArticulatedObject:
    b = Builder("Stapler", seed)
    L, w, hb = b.uniform(0.12, 0.22), b.uniform(0.03, 0.05), b.uniform(0.008, 0.02)
    ha = b.uniform(0.02, 0.035)
    body_rgba = b.colour(PLASTICS)
    arm_rgba = body_rgba if b.chance(0.5) else b.colour(b.choice((PLASTICS, METALS)))
    metal = b.colour(METALS, jitter=0.03)
    tex = b.choice(("noise", "speckle", "brushed"))
    base = b.link("base", texture=tex)
    b.box(base, (0.0, 0.0, hb / 2), (L, w, hb), body_rgba)
    if b.chance(0.5):
        b.cylinder(base, (L / 2, 0.0, hb / 2), w / 2, hb, body_rgba)
    b.box(base, (L / 2 - 0.025, 0.0, hb + 0.001), (0.03, 0.6 * w, 0.002), metal)  # anvil
    hinge_x = -L / 2 + 0.015
    b.box(base, (hinge_x, 0.0, hb + 0.006), (0.02, 0.9 * w, 0.012), body_rgba)  # hinge block
    La = b.uniform(0.85, 0.97) * L
    arm = b.link("arm", texture=tex)
    z_h = hb + 0.008
    b.box(arm, (La / 2, 0.0, ha / 2), (La, b.uniform(0.8, 1.0) * w, ha), arm_rgba)
    if b.chance(0.6):
        b.box(arm, (La / 2 + 0.01, 0.0, ha + 0.002), (0.7 * La, 0.6 * w, 0.004), b.colour(b.choice((METALS, PLASTICS))))
    b.joint("revolute", base, arm, (hinge_x, 0.0, z_h), (0.0, -1.0, 0.0), 0.0, math.radians(b.uniform(25, 80)))
    return b.build()
