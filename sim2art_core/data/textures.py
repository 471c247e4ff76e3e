"""A small bank of procedural grey-level textures that give rendered parts something to track.

The run-time path estimates optical flow from RGB, so synthetic parts need visible, stable texture.
PyBullet's TinyRenderer multiplies a link's texture with each visual's material colour, so grey
textures keep the colours chosen by the object generator while adding detail.

TinyRenderer samples textures with the nearest texel (no mip-mapping). Fine random texels would
alias and flicker when a part moves, which breaks optical flow; the textures are therefore
band-limited (features of 4-16 texels on a 64x64 image, which maps once onto each face).

Pure NumPy/SciPy: no library ships such texture generators, and they are a few lines each.
"""

from __future__ import annotations

import zlib
from functools import cache

import numpy as np
from scipy import ndimage

TEXTURE_SIZE = 64

#: Names of the bank's textures (``Link.texture`` of procedural objects uses these names).
TEXTURE_NAMES: tuple[str, ...] = ("noise", "wood", "grain", "speckle", "brushed", "grid", "fabric", "marble", "floor")


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Tileable Gaussian-filtered white noise normalised to zero mean, unit std."""
    n = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return (n - n.mean()) / max(float(n.std()), 1e-9)


def _normalise(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    a, b = float(img.min()), float(img.max())
    return lo + (hi - lo) * (img - a) / max(b - a, 1e-9)


@cache
def texture_image(name: str, size: int = TEXTURE_SIZE) -> np.ndarray:
    """The (size, size, 3) uint8 grey texture ``name`` (deterministic, read-only)."""
    if name not in TEXTURE_NAMES:
        raise ValueError(f"unknown texture {name!r}; known: {', '.join(TEXTURE_NAMES)}")
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    y, x = np.mgrid[0:size, 0:size] / size
    if name == "noise":
        img = _smooth_noise(rng, size, 2.5) + 0.5 * _smooth_noise(rng, size, 1.2)
        img = _normalise(img, 0.5, 1.0)
    elif name == "wood":
        warp = 0.06 * _smooth_noise(rng, size, 6.0)
        img = 0.5 + 0.5 * np.sin(2 * np.pi * (7 * y + 3 * warp + 0.2 * np.sin(2 * np.pi * x)))
        img = _normalise(img + 0.25 * _smooth_noise(rng, size, 1.5), 0.55, 1.0)
    elif name == "grain":
        n = ndimage.gaussian_filter(rng.standard_normal((size, size)), (1.0, 5.0), mode="wrap")
        img = _normalise(n + 0.4 * _smooth_noise(rng, size, 4.0), 0.6, 1.0)
    elif name == "speckle":
        dots = (rng.random((size, size)) < 0.04).astype(float)
        img = ndimage.gaussian_filter(dots, 1.2, mode="wrap") + 0.1 * _smooth_noise(rng, size, 3.0)
        img = _normalise(-img, 0.45, 1.0)
    elif name == "brushed":
        streak = ndimage.gaussian_filter1d(rng.standard_normal(size), 1.0, mode="wrap")[:, None]
        img = _normalise(streak + 0.5 * _smooth_noise(rng, size, 3.0), 0.65, 1.0)
    elif name == "grid":
        cells = 8
        gx = (x * cells) % 1.0
        gy = (y * cells) % 1.0
        edge = (np.minimum(gx, 1 - gx) < 0.12) | (np.minimum(gy, 1 - gy) < 0.12)
        img = np.where(edge, 0.45, 0.95) + 0.05 * _smooth_noise(rng, size, 2.0)
        img = np.clip(img, 0.4, 1.0)
    elif name == "fabric":
        weave = np.cos(2 * np.pi * 12 * x) * np.cos(2 * np.pi * 12 * y)
        img = _normalise(0.6 * weave + _smooth_noise(rng, size, 2.0), 0.55, 1.0)
    elif name == "marble":
        turb = _smooth_noise(rng, size, 5.0) + 0.5 * _smooth_noise(rng, size, 2.0)
        img = _normalise(np.abs(np.sin(2 * np.pi * (2 * x + 1.5 * y) + 1.8 * turb)) ** 0.5, 0.55, 1.0)
    else:  # floor: large tiles with grout and mottling
        tiles = 4
        gx, gy = (x * tiles) % 1.0, (y * tiles) % 1.0
        grout = (np.minimum(gx, 1 - gx) < 0.05) | (np.minimum(gy, 1 - gy) < 0.05)
        shade = rng.uniform(0.75, 1.0, (tiles, tiles))[(y * tiles).astype(int), (x * tiles).astype(int)]
        img = np.where(grout, 0.45, shade) + 0.08 * _smooth_noise(rng, size, 1.5)
        img = np.clip(img, 0.4, 1.0)
    out = np.repeat((np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)[..., None], 3, axis=2)
    out.setflags(write=False)
    return out
