"""Bounds of mesh files referenced by URDFs (OBJ and STL), for camera framing and part centroids.

PyBullet renders the meshes itself; here only the vertex bounds are needed, so a small reader of
vertex positions is enough (no mesh library is a dependency of the project).
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

MESH_SUFFIXES = (".obj", ".stl")


@lru_cache(maxsize=512)
def mesh_bounds(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) vertex bounds of an OBJ or STL file in its own units.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unsupported format or a file without vertices (the message names the file).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"mesh file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".obj":
        verts = _obj_vertices(p)
    elif suffix == ".stl":
        verts = _stl_vertices(p)
    else:
        raise ValueError(f"{p}: unsupported mesh format {suffix!r} (supported: {', '.join(MESH_SUFFIXES)})")
    if len(verts) == 0:
        raise ValueError(f"{p}: mesh has no vertices")
    lo, hi = verts.min(0), verts.max(0)
    lo.setflags(write=False)
    hi.setflags(write=False)
    return lo, hi


def _obj_vertices(p: Path) -> np.ndarray:
    rows = []
    with p.open("r", errors="replace") as f:
        for line in f:
            if line.startswith("v "):
                parts = line.split()
                try:
                    rows.append((float(parts[1]), float(parts[2]), float(parts[3])))
                except (IndexError, ValueError) as e:
                    raise ValueError(f"{p}: malformed vertex line {line.strip()!r}") from e
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def _stl_vertices(p: Path) -> np.ndarray:
    data = p.read_bytes()
    if len(data) >= 84:
        (n,) = struct.unpack_from("<I", data, 80)
        if 84 + 50 * n == len(data):  # binary STL
            rec = np.frombuffer(data, dtype=np.uint8, count=50 * n, offset=84).reshape(n, 50)
            return rec[:, 12:48].copy().view("<f4").reshape(-1, 3).astype(np.float64)
    rows = []
    for line in data.decode("ascii", errors="replace").splitlines():
        s = line.strip()
        if s.startswith("vertex"):
            rows.append(tuple(float(x) for x in s.split()[1:4]))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)
