"""sensor_msgs/Image and CameraInfo <-> NumPy, without cv_bridge.

Why not cv_bridge: it is not installable from PyPI (pip-only environment) and it
breaks with NumPy 2 (``ndarray.newbyteorder`` was removed; vision_opencv PR #556).
These ~100 lines handle exactly the encodings the node accepts.

Conventions (the same as ``depth_image_proc``'s depth_traits.hpp):

* colour: ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8`` -> (H, W, 3) uint8 RGB.
* depth: ``16UC1`` (millimetres, 0 = invalid) and ``32FC1`` (metres, NaN/inf/<= 0 =
  invalid) -> (H, W) float32 metres with NaN marking invalid pixels. The ROS
  convention fixes 16UC1 at 1 mm per unit (realsense-ros PR #682); we never read a
  device depth scale.
* mask: ``mono8`` / ``8UC1`` -> (H, W) bool, non-zero = object.
* Row padding (``step`` > width * pixel size) and ``is_bigendian`` are honoured.
* Encoding writes ``ndarray.tobytes()`` into ``msg.data``: assigning an ndarray
  element by element costs ~70 ms for a 640x480 rgb8 image, bytes ~1 ms.

Every problem raises :class:`ImageDecodeError` (a ValueError) naming it; the node
turns that into a logged, counted drop.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo, Image

from sim2art_core.camera import Intrinsics
from sim2art_core.frames import RGBDFrame

#: colour encodings -> (channels, channel order to take for RGB)
COLOR_ENCODINGS: dict[str, tuple[int, tuple[int, ...]]] = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, (0, 0, 0)),
}
DEPTH_ENCODINGS = ("16UC1", "32FC1")
MASK_ENCODINGS = ("mono8", "8UC1")


class ImageDecodeError(ValueError):
    """A sensor_msgs/Image or CameraInfo that cannot be decoded (the message names the problem)."""


def _pixels(msg: Image, dtype: np.dtype, channels: int) -> np.ndarray:
    """(H, W, channels) view/copy of ``msg.data`` with native byte order, honouring ``step``."""
    h, w = int(msg.height), int(msg.width)
    if h <= 0 or w <= 0:
        raise ImageDecodeError(f"image '{msg.encoding}' has an empty size {w}x{h}")
    item = np.dtype(dtype).itemsize
    row = w * channels * item
    step = int(msg.step)
    if step < row:
        raise ImageDecodeError(f"image '{msg.encoding}' {w}x{h}: step {step} < width * pixel size {row}")
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    if buf.size < step * (h - 1) + row:
        raise ImageDecodeError(
            f"image '{msg.encoding}' {w}x{h}: data has {buf.size} bytes, needs {step * (h - 1) + row} (step {step})"
        )
    if buf.size < step * h:  # the last row may legally lack its padding
        buf = np.concatenate([buf, np.zeros(step * h - buf.size, np.uint8)])
    rows = buf[: step * h].reshape(h, step)[:, :row]
    dt = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    arr = np.ascontiguousarray(rows).view(dt).reshape(h, w, channels)
    if dt.itemsize > 1 and not dt.isnative:
        arr = arr.astype(dt.newbyteorder("="))
    return arr


def image_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a colour image (rgb8, bgr8, rgba8, bgra8 or mono8)."""
    enc = msg.encoding
    if enc not in COLOR_ENCODINGS:
        raise ImageDecodeError(
            f"colour image encoding '{enc}' is not supported; expected one of {sorted(COLOR_ENCODINGS)}"
        )
    channels, order = COLOR_ENCODINGS[enc]
    px = _pixels(msg, np.uint8, channels)
    if order == (0, 1, 2) and channels == 3:
        return px.copy()  # never hand out a view of the message buffer
    return np.ascontiguousarray(px[..., list(order)])


def image_to_depth(msg: Image) -> np.ndarray:
    """(H, W) float32 metres, NaN where invalid, of a 16UC1 (mm) or 32FC1 (m) depth image."""
    enc = msg.encoding
    if enc == "16UC1":
        mm = _pixels(msg, np.uint16, 1)[..., 0]
        depth = mm.astype(np.float32) * np.float32(1e-3)
        depth[mm == 0] = np.nan
        return depth
    if enc == "32FC1":
        depth = _pixels(msg, np.float32, 1)[..., 0].astype(np.float32, copy=True)
        with np.errstate(invalid="ignore"):
            depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
        return depth
    raise ImageDecodeError(f"depth encoding '{enc}' is not supported; expected 16UC1 (millimetres) or 32FC1 (metres)")


def image_to_mask(msg: Image) -> np.ndarray:
    """(H, W) bool object mask of a mono8/8UC1 image: non-zero pixels belong to the object."""
    if msg.encoding not in MASK_ENCODINGS:
        raise ImageDecodeError(f"mask encoding '{msg.encoding}' is not supported; expected mono8 or 8UC1")
    return _pixels(msg, np.uint8, 1)[..., 0] != 0


def _header(msg, stamp, frame_id: str):
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


def rgb_to_image(rgb: np.ndarray, stamp=None, frame_id: str = "", encoding: str = "rgb8") -> Image:
    """Image from (H, W, 3) uint8 RGB, written as ``rgb8`` or ``bgr8``."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if encoding == "bgr8":
        rgb = rgb[..., ::-1]
    elif encoding != "rgb8":
        raise ValueError(f"rgb_to_image writes rgb8 or bgr8, not '{encoding}'")
    msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, is_bigendian=0, step=rgb.shape[1] * 3)
    msg.data = np.ascontiguousarray(rgb).tobytes()
    return _header(msg, stamp, frame_id)


def depth_to_image(depth_m: np.ndarray, stamp=None, frame_id: str = "", encoding: str = "16UC1") -> Image:
    """Image from (H, W) metres (NaN/<= 0 invalid) as 16UC1 millimetres (0 invalid) or 32FC1 metres (NaN invalid)."""
    d = np.asarray(depth_m, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f"depth must be (H, W), got {d.shape}")
    valid = np.isfinite(d) & (d > 0)
    if encoding == "16UC1":
        mm = np.where(valid, np.clip(np.rint(d * 1000.0), 1, 65535), 0).astype("<u2")
        data, step = mm.tobytes(), d.shape[1] * 2
    elif encoding == "32FC1":
        data, step = np.where(valid, d, np.nan).astype("<f4").tobytes(), d.shape[1] * 4
    else:
        raise ValueError(f"depth_to_image writes 16UC1 or 32FC1, not '{encoding}'")
    msg = Image(height=d.shape[0], width=d.shape[1], encoding=encoding, is_bigendian=0, step=step)
    msg.data = data
    return _header(msg, stamp, frame_id)


def mask_to_image(mask: np.ndarray, stamp=None, frame_id: str = "") -> Image:
    """mono8 Image (255 = object) from an (H, W) bool mask."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be (H, W), got {m.shape}")
    msg = Image(height=m.shape[0], width=m.shape[1], encoding="mono8", is_bigendian=0, step=m.shape[1])
    msg.data = (m.astype(bool).astype(np.uint8) * 255).tobytes()
    return _header(msg, stamp, frame_id)


def camera_info_to_intrinsics(info: CameraInfo) -> Intrinsics:
    """Intrinsics from CameraInfo's K (images are assumed rectified; depth registered to colour).

    Raises ImageDecodeError for an uncalibrated camera (K all zero) or an empty size.
    """
    K = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
    if int(info.width) <= 0 or int(info.height) <= 0:
        raise ImageDecodeError(f"camera_info has an empty size {info.width}x{info.height}")
    if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ImageDecodeError(f"camera_info K is not a calibrated pinhole matrix: {K.ravel().tolist()}")
    return Intrinsics.from_K(K, int(info.width), int(info.height))


def intrinsics_to_camera_info(intr: Intrinsics, stamp=None, frame_id: str = "") -> CameraInfo:
    """CameraInfo of a rectified pinhole camera (plumb_bob, zero distortion, P = [K | 0])."""
    info = CameraInfo(width=int(intr.width), height=int(intr.height), distortion_model="plumb_bob")
    info.d = [0.0] * 5
    info.k = intr.K.ravel().tolist()
    info.r = np.eye(3).ravel().tolist()
    P = np.zeros((3, 4))
    P[:, :3] = intr.K
    info.p = P.ravel().tolist()
    return _header(info, stamp, frame_id)


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time (rclpy or rosbags) -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int):
    """Integer nanoseconds -> builtin_interfaces/Time."""
    from builtin_interfaces.msg import Time

    ns = int(ns)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def frame_from_messages(
    color: Image, depth: Image, info: CameraInfo, mask: Image | None, stamp_ns: int, world_from_cam: np.ndarray
) -> RGBDFrame:
    """One synchronised (colour, depth, camera_info[, mask]) set -> RGBDFrame; ImageDecodeError names the problem."""
    rgb = image_to_rgb(color)
    d = image_to_depth(depth)
    if d.shape != rgb.shape[:2]:
        raise ImageDecodeError(
            f"depth {d.shape[1]}x{d.shape[0]} does not match colour {rgb.shape[1]}x{rgb.shape[0]} "
            "(depth must be registered to colour: align_depth.enable:=true)"
        )
    intr = camera_info_to_intrinsics(info)
    if (intr.width, intr.height) != (rgb.shape[1], rgb.shape[0]):
        raise ImageDecodeError(
            f"camera_info is for {intr.width}x{intr.height}, colour image is {rgb.shape[1]}x{rgb.shape[0]}"
        )
    m = None
    if mask is not None:
        m = image_to_mask(mask)
        if m.shape != rgb.shape[:2]:
            raise ImageDecodeError(f"mask {m.shape[1]}x{m.shape[0]} does not match colour image")
    return RGBDFrame(rgb=rgb, depth=d, intrinsics=intr, world_from_cam=world_from_cam, stamp_ns=stamp_ns, mask=m)


def has_distortion(info: CameraInfo) -> bool:
    """camera_info carries non-zero distortion coefficients (sim2art uses images as rectified: K only)."""
    return any(abs(float(c)) > 1e-9 for c in info.d)
