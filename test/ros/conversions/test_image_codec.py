"""sensor_msgs/Image and CameraInfo codecs: encodings, units, row padding, byte order, errors."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image

from sim2art_core.camera import Intrinsics
from sim2art_ros.conversions.image_codec import (
    ImageDecodeError,
    camera_info_to_intrinsics,
    depth_to_image,
    frame_from_messages,
    has_distortion,
    image_to_depth,
    image_to_mask,
    image_to_rgb,
    intrinsics_to_camera_info,
    mask_to_image,
    ns_to_stamp,
    rgb_to_image,
    stamp_to_ns,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def _raw(arr: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    """An Image with `pad` junk bytes at the end of every row."""
    h, w = arr.shape[:2]
    rows = arr.reshape(h, -1)
    if bigendian:
        rows = rows.astype(rows.dtype.newbyteorder(">"))
    rows = np.ascontiguousarray(rows).view(np.uint8).reshape(h, -1)
    padded = np.concatenate([rows, np.full((h, pad), 0xAB, np.uint8)], axis=1)
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=int(bigendian), step=padded.shape[1])
    msg.data = padded.tobytes()
    return msg


@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_decode_to_rgb(pad):
    alpha = np.full((5, 7, 1), 9, np.uint8)
    assert np.array_equal(image_to_rgb(_raw(RGB, "rgb8", pad)), RGB)
    assert np.array_equal(image_to_rgb(_raw(RGB[..., ::-1], "bgr8", pad)), RGB)
    assert np.array_equal(image_to_rgb(_raw(np.concatenate([RGB, alpha], 2), "rgba8", pad)), RGB)
    assert np.array_equal(image_to_rgb(_raw(np.concatenate([RGB[..., ::-1], alpha], 2), "bgra8", pad)), RGB)
    grey = image_to_rgb(_raw(RGB[..., :1], "mono8", pad))
    assert grey.shape == (5, 7, 3) and np.array_equal(grey[..., 2], RGB[..., 0])


def test_rgb_round_trip_and_decoded_array_is_writable_copy():
    for enc in ("rgb8", "bgr8"):
        msg = rgb_to_image(RGB, ns_to_stamp(5), "cam", encoding=enc)
        assert msg.encoding == enc and msg.step == 21 and msg.header.frame_id == "cam"
        out = image_to_rgb(msg)
        assert np.array_equal(out, RGB)
        out[0, 0] = 0  # must not raise (not a read-only view of msg.data)


@pytest.mark.parametrize("pad", [0, 2])
@pytest.mark.parametrize("bigendian", [False, True])
def test_16uc1_is_millimetres_with_zero_invalid(pad, bigendian):
    mm = np.array([[0, 1000, 1500], [65535, 250, 0]], dtype=np.uint16)
    depth = image_to_depth(_raw(mm, "16UC1", pad, bigendian))
    assert depth.dtype == np.float32 and depth.shape == (2, 3)
    expected = np.array([[np.nan, 1.0, 1.5], [65.535, 0.25, np.nan]], dtype=np.float32)
    np.testing.assert_allclose(depth, expected, rtol=1e-6)


@pytest.mark.parametrize("bigendian", [False, True])
def test_32fc1_is_metres_with_nonfinite_and_nonpositive_invalid(bigendian):
    m = np.array([[np.nan, 1.25, np.inf], [0.0, -1.0, 3.5]], dtype=np.float32)
    depth = image_to_depth(_raw(m, "32FC1", pad=4, bigendian=bigendian))
    np.testing.assert_allclose(depth, [[np.nan, 1.25, np.nan], [np.nan, np.nan, 3.5]])


def test_depth_round_trip_both_encodings():
    d = np.array([[0.5, np.nan], [2.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(image_to_depth(depth_to_image(d, encoding="16UC1")), [[0.5, np.nan], [2.0, np.nan]])
    np.testing.assert_allclose(image_to_depth(depth_to_image(d, encoding="32FC1")), [[0.5, np.nan], [2.0, np.nan]])


def test_mask_round_trip():
    m = RGB[..., 0] > 128
    assert np.array_equal(image_to_mask(mask_to_image(m)), m)


@pytest.mark.parametrize(
    ("encoding", "decoder", "needle"),
    [
        ("yuv422", image_to_rgb, "colour image encoding 'yuv422'"),
        ("mono16", image_to_depth, "depth encoding 'mono16'"),
        ("rgb8", image_to_depth, "depth encoding 'rgb8'"),
        ("16UC1", image_to_mask, "mask encoding '16UC1'"),
    ],
)
def test_unsupported_encodings_raise_clear_errors(encoding, decoder, needle):
    msg = Image(height=2, width=2, encoding=encoding, step=8)
    msg.data = bytes(16)
    with pytest.raises(ImageDecodeError, match=needle):
        decoder(msg)


def test_truncated_data_and_bad_step_raise():
    msg = _raw(RGB, "rgb8")
    msg.data = bytes(msg.data)[:-30]
    with pytest.raises(ImageDecodeError, match="data has"):
        image_to_rgb(msg)
    msg = _raw(RGB, "rgb8")
    msg.step = 10
    with pytest.raises(ImageDecodeError, match="step 10"):
        image_to_rgb(msg)
    with pytest.raises(ImageDecodeError, match="empty size"):
        image_to_rgb(Image(encoding="rgb8"))


def test_camera_info_round_trip_and_uncalibrated_rejected():
    intr = Intrinsics(500.0, 510.0, 319.5, 239.5, 640, 480)
    info = intrinsics_to_camera_info(intr, ns_to_stamp(7), "cam")
    assert camera_info_to_intrinsics(info) == intr
    with pytest.raises(ImageDecodeError, match="not a calibrated"):
        camera_info_to_intrinsics(CameraInfo(width=640, height=480))


def test_stamp_conversion():
    ns = 1_700_000_000_123_456_789
    s = ns_to_stamp(ns)
    assert (s.sec, s.nanosec) == (1_700_000_000, 123_456_789)
    assert stamp_to_ns(s) == ns


def test_frame_from_a_synchronised_set_checks_sizes():
    intr = Intrinsics.from_fov(7, 5, np.deg2rad(60))
    depth = np.full((5, 7), 1.5)
    info = intrinsics_to_camera_info(intr)
    pose = np.diag([1.0, -1.0, -1.0, 1.0])
    mask = np.zeros((5, 7), bool)
    mask[1:3, 2:5] = True
    f = frame_from_messages(rgb_to_image(RGB), depth_to_image(depth), info, mask_to_image(mask), 42, pose)
    assert f.stamp_ns == 42 and np.array_equal(f.rgb, RGB) and np.array_equal(f.mask, mask)
    np.testing.assert_allclose(f.depth, depth)
    np.testing.assert_allclose(f.world_from_cam, pose)
    with pytest.raises(ImageDecodeError, match="align_depth"):
        frame_from_messages(rgb_to_image(RGB), depth_to_image(depth[:4]), info, None, 42, pose)
    with pytest.raises(ImageDecodeError, match="camera_info is for 8x5"):
        frame_from_messages(rgb_to_image(RGB), depth_to_image(depth), intrinsics_to_camera_info(
            Intrinsics.from_fov(8, 5, 1.0)), None, 42, pose)  # fmt: skip
    with pytest.raises(ImageDecodeError, match="mask 7x4"):
        frame_from_messages(rgb_to_image(RGB), depth_to_image(depth), info, mask_to_image(mask[:4]), 42, pose)
    assert not has_distortion(info)
    info.d = [0.1, 0.0, 0.0, 0.0, 0.0]
    assert has_distortion(info)
