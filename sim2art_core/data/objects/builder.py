"""Small helpers the category generators share: an object builder, colour palettes and handles.

Frames: every generator builds its object standing on z = 0 with its front facing +x (the viewer's
right is +y when looking at the front). Sizes in metres, angles in radians.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from sim2art_core.data.objects.model import ArticulatedObject, Joint, Link, Visual

Vec3 = tuple[float, float, float]

# Material palettes (linear RGB in [0, 1]); one is drawn per material slot of an object.
WOODS = (
    (0.62, 0.44, 0.28), (0.75, 0.58, 0.40), (0.45, 0.30, 0.18), (0.85, 0.72, 0.55), (0.35, 0.22, 0.14),
    (0.70, 0.52, 0.36),
)  # fmt: skip
PAINTS = (
    (0.92, 0.92, 0.90), (0.25, 0.26, 0.28), (0.55, 0.60, 0.62), (0.80, 0.78, 0.70), (0.35, 0.45, 0.55),
    (0.60, 0.25, 0.22), (0.30, 0.45, 0.35), (0.85, 0.80, 0.55), (0.45, 0.55, 0.75), (0.70, 0.45, 0.55),
)  # fmt: skip
METALS = ((0.75, 0.75, 0.78), (0.55, 0.56, 0.58), (0.15, 0.15, 0.16), (0.80, 0.68, 0.40), (0.65, 0.50, 0.35))
PLASTICS = (
    (0.12, 0.12, 0.13), (0.90, 0.90, 0.92), (0.75, 0.15, 0.15), (0.15, 0.35, 0.75), (0.20, 0.55, 0.30),
    (0.95, 0.75, 0.15), (0.55, 0.55, 0.58), (0.45, 0.25, 0.55), (0.95, 0.50, 0.20), (0.30, 0.70, 0.80),
)  # fmt: skip


def category_rng(category: str, seed: int) -> np.random.Generator:
    """The instance generator's RNG: independent streams for each (category, seed)."""
    if seed < 0:
        raise ValueError(f"object seed must be >= 0, got {seed}")
    return np.random.default_rng([zlib.crc32(category.encode()), int(seed)])


class Builder:
    """Accumulates links and joints of one object; ``build()`` freezes them."""

    def __init__(self, category: str, seed: int):
        self.category = category
        self.seed = seed
        self.rng = category_rng(category, seed)
        self._visuals: dict[str, list[Visual]] = {}
        self._textures: dict[str, str | None] = {}
        self._joints: list[Joint] = []

    # ------------------------------------------------------------------ random draws
    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def integer(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi] (inclusive)."""
        return int(self.rng.integers(lo, hi + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def choice(self, options):
        return options[int(self.rng.integers(len(options)))]

    def colour(self, palette, jitter: float = 0.06) -> tuple[float, float, float, float]:
        """A palette colour with a little per-instance variation."""
        base = np.asarray(self.choice(palette)) + self.rng.uniform(-jitter, jitter, 3)
        r, g, b = np.clip(base, 0.03, 0.98)
        return (float(r), float(g), float(b), 1.0)

    # ------------------------------------------------------------------ structure
    def link(self, name: str, texture: str | None = None) -> str:
        if name in self._visuals:
            raise ValueError(f"duplicate link {name!r}")
        self._visuals[name] = []
        self._textures[name] = texture
        return name

    def box(self, link: str, center: Vec3, size: Vec3, rgba, rpy: Vec3 = (0.0, 0.0, 0.0)) -> None:
        self._visuals[link].append(Visual("box", _t(size), _t(center), _t(rpy), tuple(rgba)))

    def cylinder(self, link: str, center: Vec3, radius: float, length: float, rgba, axis: str = "z") -> None:
        """A cylinder along the link's x, y or z axis."""
        rpy = {"z": (0.0, 0.0, 0.0), "x": (0.0, math.pi / 2, 0.0), "y": (math.pi / 2, 0.0, 0.0)}[axis]
        self._visuals[link].append(Visual("cylinder", (radius, radius, length), _t(center), rpy, tuple(rgba)))

    def sphere(self, link: str, center: Vec3, radius: float, rgba) -> None:
        self._visuals[link].append(Visual("sphere", (radius, radius, radius), _t(center), (0.0, 0.0, 0.0), tuple(rgba)))

    def joint(self, kind: str, parent: str, child: str, xyz: Vec3, axis: Vec3, lower: float = 0.0,
              upper: float = 0.0, rpy: Vec3 = (0.0, 0.0, 0.0)) -> None:  # fmt: skip
        self._joints.append(Joint(f"joint_{child}", kind, parent, child, _t(xyz), _t(rpy), _t(axis), lower, upper))

    def build(self) -> ArticulatedObject:
        """Freeze the object. Limits of revolute joints are lowered where needed so that no part dips
        below the floor (z = 0) anywhere in its range (e.g. a drop-down front at floor level)."""
        links = tuple(Link(n, tuple(v), self._textures[n]) for n, v in self._visuals.items())
        name = f"{self.category}-{self.seed}"
        obj = ArticulatedObject(name, self.category, self.seed, links, tuple(self._joints))
        rest = obj.joint_limits()[:, 0].copy()
        rest[~np.isfinite(rest)] = 0.0
        joints, changed = list(obj.joints), False
        for k, j in enumerate(obj.movable_joints):
            if j.type != "revolute":
                continue
            qs = np.linspace(j.lower, j.upper, 25)
            states = np.tile(rest, (len(qs), 1))
            states[:, k] = qs
            low = obj.lowest_points(states, obj.subtree(j.child))
            bad = np.flatnonzero(low < -1e-4)
            if len(bad):
                if bad[0] == 0:
                    raise ValueError(f"{name}: link {j.child!r} is below the floor at its lower limit")
                upper = float(qs[bad[0] - 1])
                joints[joints.index(j)] = Joint(j.name, j.type, j.parent, j.child, j.xyz, j.rpy, j.axis, j.lower, upper)
                changed = True
        if changed:
            obj = ArticulatedObject(name, self.category, self.seed, links, tuple(joints))
        return obj

    # ------------------------------------------------------------------ handles
    def handle(self, link: str, style: str, center: Vec3, length: float, vertical: bool, rgba,
               normal: str = "+x") -> None:  # fmt: skip
        """A handle on a face whose outward normal is ``normal`` (+x or +z), centred at ``center``.

        Styles: "bar" (round bar on two posts), "pull" (flat box), "knob" (short cylinder + ball),
        "recess" (a dark inset strip, no protrusion); only the broader families (furniture.py) use:
        "square_knob" (a small cube on a stem), "tbar" (a short flat T on one post), "rail" (a long
        square-section bar on two blocks, e.g. an oven door's).
        """
        cx, cy, cz = center
        n = np.array([1.0, 0.0, 0.0]) if normal == "+x" else np.array([0.0, 0.0, 1.0])
        along = np.array([0.0, 0.0, 1.0]) if vertical else np.array([0.0, 1.0, 0.0])
        if normal == "+z":
            along = np.array([1.0, 0.0, 0.0]) if vertical else np.array([0.0, 1.0, 0.0])
        c = np.array([cx, cy, cz])
        if style == "bar":
            standoff, r = 0.025, 0.006
            for s in (-0.5, 0.5):
                post = c + n * standoff / 2 + along * s * length * 0.85
                self.cylinder(link, _t(post), r * 0.9, standoff, rgba, axis=_axis_name(n))
            self.cylinder(link, _t(c + n * standoff), r, length, rgba, axis=_axis_name(along))
        elif style == "pull":
            depth = 0.012
            size = np.abs(along) * length + np.abs(n) * depth + np.abs(np.cross(n, along)) * 0.014
            self.box(link, _t(c + n * depth / 2), _t(size), rgba)
        elif style == "knob":
            self.cylinder(link, _t(c + n * 0.01), 0.006, 0.02, rgba, axis=_axis_name(n))
            self.sphere(link, _t(c + n * 0.024), 0.012, rgba)
        elif style == "recess":
            depth = 0.003
            size = np.abs(along) * length + np.abs(n) * depth + np.abs(np.cross(n, along)) * 0.02
            self.box(link, _t(c + n * depth / 2), _t(size), (0.08, 0.08, 0.08, 1.0))
        elif style == "square_knob":
            self.box(link, _t(c + n * 0.007), _t(np.abs(n) * 0.014 + (1 - np.abs(n)) * 0.008), rgba)
            self.box(link, _t(c + n * 0.022), _t(np.abs(n) * 0.016 + (1 - np.abs(n)) * 0.022), rgba)
        elif style == "tbar":
            self.cylinder(link, _t(c + n * 0.012), 0.005, 0.024, rgba, axis=_axis_name(n))
            size = np.abs(along) * min(length, 0.06) + np.abs(n) * 0.008 + np.abs(np.cross(n, along)) * 0.012
            self.box(link, _t(c + n * 0.028), _t(size), rgba)
        elif style == "rail":
            standoff = 0.035
            for s in (-0.5, 0.5):
                post = c + n * standoff / 2 + along * s * length * 0.9
                self.box(link, _t(post), _t(np.abs(n) * standoff + (1 - np.abs(n)) * 0.014), rgba)
            size = np.abs(along) * length + np.abs(n) * 0.014 + np.abs(np.cross(n, along)) * 0.014
            self.box(link, _t(c + n * (standoff + 0.007)), _t(size), rgba)
        else:
            raise ValueError(f"unknown handle style {style!r}")


#: Handle styles of the paper's categories (their instances draw from exactly this tuple; keep it).
HANDLE_STYLES = ("bar", "pull", "knob", "recess")
#: All handle styles (the broader families of furniture.py draw from these).
ALL_HANDLE_STYLES = (*HANDLE_STYLES, "square_knob", "tbar", "rail")


def _axis_name(v: np.ndarray) -> str:
    return "xyz"[int(np.argmax(np.abs(v)))]


def _t(v) -> Vec3:
    return tuple(float(x) for x in v)
