"""Compact, deterministic byte encoding of one :class:`SequenceSample` (a dataset record).

Layout of a record (before zlib compression): ``u32 header length | JSON header | array bytes``.
The JSON header holds the scalar fields and, per array, its name, dtype, shape, byte length and
whether its bytes are shuffled (byte planes grouped, which compresses floats much better).

What is stored (per point: 4 + 2 + 6 + 3 + 1 = 16 bytes before compression):

* points are *not* stored: every point is a pixel lifted with its depth, so the record keeps the
  pixel (int16 u, v) and its depth in camera t as uint16 steps of 0.1 mm above a per-record offset
  (uint32 if the depth range exceeds 6.5 m). Decoding lifts them again with the stored intrinsics and
  camera poses (float64), so coordinates come back within 0.05 mm along the viewing ray. Samples whose
  points are not such lifts (more than 0.2 mm off) are stored with float32 points instead.
* flow: float16 (relative precision 5e-4: 0.05 mm at 0.1 m per frame; zero stays exactly zero).
* colors uint8, labels uint8 (int16 with more than 255 parts); the small per-part arrays, intrinsics,
  camera poses and joint states keep their dtypes.

Encoding is a pure function of the sample (sorted JSON keys, fixed zlib level), so the same sample
always gives the same bytes.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from sim2art_core.data.sequence import SCHEMA_VERSION, SequenceSample
from sim2art_core.geometry import lift, transform_points

DEPTH_STEP_M = 1e-4
POINT_TOLERANCE_M = 2e-4
ZLIB_LEVEL = 1  # level 6 saves 5 % of the size at twice the encoding time

_SCALARS = ("object_id", "category", "object_seed", "sequence_seed", "realism")
_TUPLES = ("part_names", "joint_names", "image_size")
_ARRAYS_KEPT = ("colors", "pixels", "part_parents", "part_types", "part_axes", "part_pivots", "part_amounts",
                "part_moving", "intrinsics", "world_from_cam", "joint_states")  # fmt: skip


class RecordError(ValueError):
    """A record's bytes cannot be decoded (corrupt or from an incompatible writer)."""


def _lift_to_cam0(pixels: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray, world_from_cam: np.ndarray):
    """(T, N, 3) float64 points in cam0 of pixels (T, N, 2) at depths (T, N)."""
    cam = lift(pixels, depth.astype(np.float64), intrinsics)
    c0_from_t = np.linalg.inv(world_from_cam[0]) @ world_from_cam  # (T, 4, 4)
    return transform_points(c0_from_t, cam)


def _depth_in_cams(points: np.ndarray, world_from_cam: np.ndarray) -> np.ndarray:
    t_from_c0 = np.linalg.inv(world_from_cam) @ world_from_cam[0]
    return np.einsum("tj,tnj->tn", t_from_c0[:, 2, :3], points.astype(np.float64)) + t_from_c0[:, None, 2, 3]


def _shuffle(a: np.ndarray) -> bytes:
    b = np.ascontiguousarray(a).view(np.uint8).reshape(-1, a.dtype.itemsize)
    return np.ascontiguousarray(b.T).tobytes()


def _unshuffle(buf: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    planes = np.frombuffer(buf, dtype=np.uint8).reshape(dtype.itemsize, n)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(shape)


def encode_sample(sample: SequenceSample) -> bytes:
    """The compressed record of a (valid) sample; see the module doc."""
    sample.validate()
    arrays: dict[str, np.ndarray] = {k: getattr(sample, k) for k in _ARRAYS_KEPT}
    depth = _depth_in_cams(sample.points, sample.world_from_cam)
    meta: dict = {"schema_version": SCHEMA_VERSION}
    if np.all(depth > 0):
        offset = float(np.floor(depth.min() * 100.0) / 100.0)
        steps = np.rint((depth - offset) / DEPTH_STEP_M)
        dq = steps.astype(np.uint16 if steps.max() < 65535 else np.uint32)
        back = _lift_to_cam0(sample.pixels, offset + dq * DEPTH_STEP_M, sample.intrinsics, sample.world_from_cam)
        lifted = float(np.max(np.abs(back - sample.points))) <= POINT_TOLERANCE_M
    else:
        lifted = False
    if lifted:
        meta["depth_offset"] = offset
        arrays["depth_q"] = dq
    else:
        arrays["points"] = sample.points
    arrays["flow"] = sample.flow.astype(np.float16)
    num_parts = sample.num_parts
    arrays["labels"] = sample.labels.astype(np.uint8 if num_parts <= 255 else np.int16)
    for k in _SCALARS:
        meta[k] = getattr(sample, k)
    for k in _TUPLES:
        meta[k] = list(getattr(sample, k))
    specs, blobs = [], []
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        shuffle = a.dtype.itemsize > 1 and a.size > 64
        blob = _shuffle(a) if shuffle else a.tobytes()
        specs.append([name, a.dtype.str, list(a.shape), len(blob), shuffle])
        blobs.append(blob)
    meta["arrays"] = specs
    header = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    return zlib.compress(struct.pack("<I", len(header)) + header + b"".join(blobs), ZLIB_LEVEL)


def decode_sample(record: bytes) -> SequenceSample:
    """Inverse of :func:`encode_sample`; raises :class:`RecordError` on any inconsistency."""
    try:
        raw = zlib.decompress(record)
    except zlib.error as e:
        raise RecordError(f"record does not decompress: {e}") from e
    try:
        (hlen,) = struct.unpack_from("<I", raw, 0)
        meta = json.loads(raw[4 : 4 + hlen].decode())
    except (struct.error, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(f"record header is unreadable: {e}") from e
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise RecordError(f"record has schema version {meta.get('schema_version')}, this reader needs {SCHEMA_VERSION}")
    arrays, pos = {}, 4 + hlen
    try:
        for name, dtype, shape, nbytes, shuffled in meta["arrays"]:
            buf = raw[pos : pos + nbytes]
            if len(buf) != nbytes:
                raise RecordError(f"record array {name!r} is truncated")
            dt, shape = np.dtype(dtype), tuple(shape)
            if nbytes != dt.itemsize * int(np.prod(shape)):
                raise RecordError(f"record array {name!r}: {nbytes} bytes do not match {dtype} {shape}")
            arrays[name] = _unshuffle(buf, dt, shape) if shuffled else np.frombuffer(buf, dt).reshape(shape).copy()
            pos += nbytes
        if pos != len(raw):
            raise RecordError(f"record has {len(raw) - pos} trailing bytes")
        if "depth_q" in arrays:
            depth = meta["depth_offset"] + arrays.pop("depth_q").astype(np.float64) * DEPTH_STEP_M
            points = _lift_to_cam0(arrays["pixels"], depth, arrays["intrinsics"], arrays["world_from_cam"])
        else:
            points = arrays.pop("points")
        sample = SequenceSample(
            points=points.astype(np.float32),
            flow=arrays.pop("flow").astype(np.float32),
            labels=arrays.pop("labels").astype(np.int16),
            part_names=tuple(meta["part_names"]),
            joint_names=tuple(meta["joint_names"]),
            image_size=tuple(meta["image_size"]),
            **{k: meta[k] for k in _SCALARS},
            **arrays,
        )
        return sample.validate()
    except RecordError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise RecordError(f"record content is inconsistent: {e}") from e
