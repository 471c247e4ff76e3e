"""How rendered objects look: textured (the default) or plain-coloured, as many real kitchen fronts are.

The run-time path estimates optical flow from RGB. The procedural textures of
:mod:`sim2art_core.data.textures` give every part detail to track; real furniture is often uniform
lacquer (white, grey) where image flow has almost nothing to lock onto except edges and handles.
``SequenceConfig.surfaces`` selects:

* ``"textured"`` (default): the object as generated, with its per-link textures. Samples are
  bit-identical to those written before this option existed.
* ``"plain"``: no textures; every visual keeps the generator's (or the URDF's) colour.
* ``"lacquer"``: no textures, and each link's dominant colour (the colour of most of its visual
  volume: carcass panels, fronts, lids) becomes one lacquer colour shared by the whole object, drawn
  per sequence from white and grey paints; the other colours of a link (handles, knobs, screen insets)
  stay, as the metal handles on a white kitchen do.

Limitation: a mesh visual that takes its colour and texture from its own MTL file (``rgba`` None, e.g.
PartNet-Mobility) keeps that MTL texture under "plain" (PyBullet applies it when loading the mesh); under
"lacquer" its rgba is set, so PyBullet uses the lacquer colour.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Literal, get_args

import numpy as np

from sim2art_core.data.objects.model import ArticulatedObject, Link, Visual

Surfaces = Literal["textured", "plain", "lacquer"]
SURFACES: tuple[str, ...] = get_args(Surfaces)

#: Lacquer paints (linear RGB in [0, 1]): whites, off-whites, light to mid greys, a grey-beige.
LACQUER_COLOURS: tuple[tuple[float, float, float], ...] = (
    (0.95, 0.95, 0.94),
    (0.92, 0.91, 0.88),
    (0.88, 0.88, 0.88),
    (0.80, 0.81, 0.82),
    (0.70, 0.71, 0.72),
    (0.58, 0.59, 0.60),
    (0.82, 0.79, 0.74),
)


def _volume(v: Visual) -> float:
    corners = v.local_corners()
    return float(np.prod(corners.max(axis=0) - corners.min(axis=0)))


def dominant_colour(link: Link) -> tuple[float, float, float, float] | None:
    """The rgba covering most of the link's visual volume (bounding boxes); None without coloured visuals."""
    vol: dict[tuple[float, float, float, float], float] = defaultdict(float)
    for v in link.visuals:
        if v.rgba is not None:
            vol[v.rgba] += _volume(v)
    return max(vol, key=vol.__getitem__) if vol else None


def apply_surfaces(obj: ArticulatedObject, surfaces: str, sequence_seed: int) -> ArticulatedObject:
    """``obj`` as rendered under ``surfaces`` (see module doc); "textured" returns ``obj`` itself.

    The lacquer colour comes from a random stream of its own (``sequence_seed``), so the option changes
    nothing else of a sequence (motion, camera, lighting and sampling keep their streams).
    """
    if surfaces not in SURFACES:
        raise ValueError(f"surfaces must be one of {SURFACES}, got {surfaces!r}")
    if surfaces == "textured":
        return obj
    paint = None
    if surfaces == "lacquer":
        rng = np.random.default_rng(np.random.SeedSequence([int(sequence_seed), 0x1AC0]))
        base = np.asarray(LACQUER_COLOURS[int(rng.integers(len(LACQUER_COLOURS)))])
        paint = tuple(float(c) for c in np.clip(base * rng.uniform(0.97, 1.03), 0.0, 1.0)) + (1.0,)
    links = []
    for lk in obj.links:
        visuals = lk.visuals
        if paint is not None:
            dom = dominant_colour(lk)
            visuals = tuple(replace(v, rgba=paint) if v.rgba == dom or v.rgba is None else v for v in lk.visuals)
        links.append(Link(lk.name, visuals, None))
    return replace(obj, links=tuple(links))
