"""Per-window coordinate normalisation: points into [-1, 1]^3 and back (paper §3.1).

p_n = (p - center) * scale, with center the middle of the points' bounding box
(all frames together) and scale = 1 / (largest half-extent), so the biggest side
spans exactly [-1, 1]. Directions (axes) are unchanged, displacements (flow,
prismatic amounts) are multiplied by ``scale``, angles are unchanged. One
normalisation per window, kept so outputs can be de-normalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalization:
    """Attributes: center (3,) in the input units (m); scale: 1/m (normalised units per metre)."""

    center: np.ndarray
    scale: float

    @classmethod
    def fit(cls, points: np.ndarray, valid: np.ndarray | None = None, min_extent: float = 1e-3) -> Normalization:
        """Normalisation of ``points`` (..., 3) over the entries where ``valid`` (...) is True.

        ``min_extent`` (m) bounds the half-extent from below so a degenerate window
        (all points at one spot) gives a finite scale instead of a division by zero.
        """
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        if valid is not None:
            p = p[np.asarray(valid).reshape(-1)]
        if len(p) == 0:
            raise ValueError("Normalization.fit: no valid point")
        lo, hi = p.min(axis=0), p.max(axis=0)
        center = (lo + hi) / 2.0
        half = max(float(np.max(hi - lo)) / 2.0, min_extent)
        return cls(center=center, scale=1.0 / half)

    def points(self, p: np.ndarray) -> np.ndarray:
        return ((np.asarray(p, dtype=np.float64) - self.center) * self.scale).astype(np.float32)

    def vectors(self, v: np.ndarray) -> np.ndarray:
        """Displacements (flow, prismatic amounts): scaled, not shifted."""
        return (np.asarray(v, dtype=np.float64) * self.scale).astype(np.float32)

    def unpoints(self, p_n: np.ndarray) -> np.ndarray:
        return np.asarray(p_n, dtype=np.float64) / self.scale + self.center

    def unvectors(self, v_n: np.ndarray) -> np.ndarray:
        return np.asarray(v_n, dtype=np.float64) / self.scale
