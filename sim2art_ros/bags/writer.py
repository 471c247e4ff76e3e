"""Synthetic sequences -> rosbag2 bags with what a robot records (``sim2art-bag-from-sim``).

Per rendered frame: colour (rgb8), registered depth (16UC1 mm or 32FC1 m),
the two camera_info messages, and ``/tf`` ``odom -> camera_link`` at the frame's
stamp; once at the start, ``/tf_static`` ``camera_link -> camera_color_frame ->
camera_color_optical_frame``; at the end, the ground truth of the whole sequence
on ``/articulation_ground_truth`` (sim2art_ros/msg/Articulation, in ``odom``,
``window_stamps`` = every frame, states relative to the first frame). Names:
:class:`~sim2art_ros.bags.layout.BagLayout` (realsense-ros defaults).

Messages are rclpy messages serialised with ``rclpy.serialization.serialize_message``
and written as raw CDR with rosbags' Writer; the connections come from a
typestore with our msg/*.msg registered, so metadata.yaml and the storage carry
every type's definition and RIHS01 hash (mcap or sqlite3 open in Foxglove,
``ros2 bag info`` and rosbags without our package).

The data engine's ``generate_sequence`` renders the frames; realism options
(noise, holes, blur, ...) are its RealismConfig, exposed here as ``--realism-*``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer

from sim2art_core.data.cli_args import add_object_arguments, add_size_arguments
from sim2art_core.estimate import ArticulationEstimate, JointEstimate, PartEstimate
from sim2art_core.frames import RGBDFrame
from sim2art_core.geometry import (
    invert_transform,
    make_transform,
    quaternion_from_matrix,
    rotate_vectors,
    transform_points,
)
from sim2art_ros.bags import io as bag_io
from sim2art_ros.bags.layout import COLOR_FROM_OPTICAL, LINK_FROM_COLOR, BagLayout
from sim2art_ros.bags.qos import TF_DEPTH, rosbags_qos
from sim2art_ros.conversions.image_codec import depth_to_image, intrinsics_to_camera_info, ns_to_stamp, rgb_to_image

DEPTH_ENCODINGS = ("16UC1", "32FC1")
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
#: 2023-11-14T22:13:20Z: bags start at a plausible wall-clock time (time 0 means "latest" to TF users).
DEFAULT_START_NS = 1_700_000_000 * 1_000_000_000


@dataclass(frozen=True)
class BagWriterConfig:
    """How frames become a bag.

    Attributes:
        storage: "mcap" (rosbag2's default) or "sqlite3".
        depth_encoding: "16UC1" (mm, RealSense/OAK) or "32FC1" (m).
        start_time_ns: stamp of the first frame; later frames keep the renderer's spacing.
        odom_from_world: (4, 4) pose of the sample's world frame (the object's root frame) in ``odom``.
        link_from_color: (4, 4) camera_link -> camera_color_frame (static).
        object_id: ``object_id`` of the ground-truth message.
        layout: topic and frame names.
    """

    storage: str = "mcap"
    depth_encoding: str = "16UC1"
    start_time_ns: int = DEFAULT_START_NS
    odom_from_world: np.ndarray = field(default_factory=lambda: np.eye(4))
    link_from_color: np.ndarray = field(default_factory=lambda: LINK_FROM_COLOR.copy())
    object_id: str = "object_0"
    layout: BagLayout = field(default_factory=BagLayout)

    def __post_init__(self):
        if self.storage not in STORAGES:
            raise ValueError(f"storage must be one of {sorted(STORAGES)}, got {self.storage!r}")
        if self.depth_encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"depth_encoding must be one of {DEPTH_ENCODINGS}, got {self.depth_encoding!r}")
        for name in ("odom_from_world", "link_from_color"):
            T = np.asarray(getattr(self, name))
            if T.shape != (4, 4) or not np.all(np.isfinite(T)):
                raise ValueError(f"BagWriterConfig.{name} must be a finite 4x4 transform")


@dataclass(frozen=True)
class BagSummary:
    """What :func:`write_bag` wrote: the bag directory and message count per topic."""

    path: Path
    counts: dict[str, int]
    duration_s: float


def transform_message(parent: str, child: str, T: np.ndarray, stamp_ns: int):
    """geometry_msgs/TransformStamped ``parent -> child`` (``T`` = parent_from_child)."""
    from geometry_msgs.msg import TransformStamped

    msg = TransformStamped()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = parent
    msg.child_frame_id = child
    t = msg.transform
    t.translation.x, t.translation.y, t.translation.z = (float(v) for v in T[:3, 3])
    q = quaternion_from_matrix(T)
    t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w = (float(v) for v in q)
    return msg


def tf_message(transforms: list):
    from tf2_msgs.msg import TFMessage

    return TFMessage(transforms=transforms)


def odom_from_link(world_from_optical: np.ndarray, config: BagWriterConfig) -> np.ndarray:
    """The moving ``odom -> camera_link`` transform of one frame."""
    link_from_optical = np.asarray(config.link_from_color) @ COLOR_FROM_OPTICAL
    return np.asarray(config.odom_from_world) @ world_from_optical @ invert_transform(link_from_optical)


def transform_estimate(
    estimate: ArticulationEstimate, new_from_old: np.ndarray, frame_id: str, stamps_ns: np.ndarray | None = None
) -> ArticulationEstimate:
    """The same estimate expressed in another fixed frame (axes, origins, centroids, boxes; optional new stamps).

    Part boxes stay axis-aligned: the new box bounds the 8 transformed corners.
    """
    T = np.asarray(new_from_old, dtype=np.float64)

    def part(p: PartEstimate) -> PartEstimate:
        lo, hi = np.asarray(p.bbox_min, float), np.asarray(p.bbox_max, float)
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        moved = transform_points(T, corners)
        centroid = transform_points(T, np.asarray(p.centroid, float))
        return dataclasses.replace(p, centroid=centroid, bbox_min=moved.min(0), bbox_max=moved.max(0))

    def joint(j: JointEstimate) -> JointEstimate:
        R = T[:3, :3]
        return dataclasses.replace(
            j,
            axis=rotate_vectors(T, np.asarray(j.axis, float)),
            origin=transform_points(T, np.asarray(j.origin, float)),
            origin_cov=None if j.origin_cov is None else R @ np.asarray(j.origin_cov) @ R.T,
        )

    stamps = estimate.stamps_ns if stamps_ns is None else np.asarray(stamps_ns, dtype=np.int64)
    return dataclasses.replace(
        estimate,
        frame_id=frame_id,
        stamps_ns=stamps,
        parts=tuple(part(p) for p in estimate.parts),
        joints=tuple(joint(j) for j in estimate.joints),
    )


def bag_stamps(frames: Sequence[RGBDFrame], start_time_ns: int) -> np.ndarray:
    """Bag stamps of the frames: ``start_time_ns`` plus the renderer's offsets (must increase strictly)."""
    rel = np.array([int(f.stamp_ns) for f in frames], dtype=np.int64)
    rel -= rel[0]
    if len(rel) > 1 and not np.all(np.diff(rel) > 0):
        raise ValueError(f"frame stamps must increase strictly, got offsets {rel.tolist()} ns")
    return rel + int(start_time_ns)


def write_bag(
    path: str | Path,
    frames: Sequence[RGBDFrame],
    ground_truth: ArticulationEstimate | None = None,
    config: BagWriterConfig | None = None,
) -> BagSummary:
    """Write ``frames`` (and the ground truth) as a rosbag2 bag at ``path`` (a new directory).

    Args:
        path: bag directory to create (must not exist).
        frames: rendered frames, oldest first; ``world_from_cam`` in the sample's world frame.
        ground_truth: the true articulation in that world frame; its i-th stamp is taken to be the
            i-th frame's (it may cover fewer frames than rendered, e.g. T of T + 1).
        config: storage, depth encoding, frames and names.
    """
    config = config or BagWriterConfig()
    lay = config.layout
    path = Path(path)
    if not frames:
        raise ValueError("write_bag: no frames")
    if path.exists():
        raise FileExistsError(f"bag {path} already exists")
    for f in frames:
        f.validate()
    stamps = bag_stamps(frames, config.start_time_ns)
    store = bag_io.project_typestore()
    counts: Counter[str] = Counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    with Writer(path, version=9, storage_plugin=STORAGES[config.storage]) as writer:
        stream = rosbags_qos(depth=10)
        conns = {}

        def connect(topic, msgtype, qos):
            conns[topic] = writer.add_connection(topic, msgtype, typestore=store, offered_qos_profiles=[qos])

        connect(lay.color_topic, "sensor_msgs/msg/Image", stream)
        connect(lay.depth_topic, "sensor_msgs/msg/Image", stream)
        connect(lay.color_info_topic, "sensor_msgs/msg/CameraInfo", stream)
        connect(lay.depth_info_topic, "sensor_msgs/msg/CameraInfo", stream)
        connect("/tf", "tf2_msgs/msg/TFMessage", rosbags_qos(depth=TF_DEPTH))
        connect("/tf_static", "tf2_msgs/msg/TFMessage", rosbags_qos(transient_local=True, depth=1))
        if ground_truth is not None:
            connect(lay.ground_truth_topic, bag_io.ARTICULATION_TYPE, rosbags_qos(transient_local=True, depth=1))

        def write(topic, t_ns, msg):
            writer.write(conns[topic], int(t_ns), serialize_message(msg))
            counts[topic] += 1

        # Static transforms once, first in the bag, as a realsense driver's static broadcaster sends them.
        static = [
            transform_message(lay.camera_base_frame, lay.color_frame, np.asarray(config.link_from_color), stamps[0]),
            transform_message(lay.color_frame, lay.optical_frame, COLOR_FROM_OPTICAL, stamps[0]),
        ]
        write("/tf_static", stamps[0], tf_message(static))
        for frame, t in zip(frames, stamps, strict=True):
            stamp = ns_to_stamp(int(t))
            # TF first: a node that looks up the camera pose at the image stamp finds it already there.
            pose = odom_from_link(np.asarray(frame.world_from_cam, float), config)
            write("/tf", t, tf_message([transform_message(lay.fixed_frame, lay.camera_base_frame, pose, t)]))
            write(lay.color_topic, t, rgb_to_image(frame.rgb, stamp, lay.optical_frame))
            write(lay.depth_topic, t, depth_to_image(frame.depth, stamp, lay.optical_frame, config.depth_encoding))
            info = intrinsics_to_camera_info(frame.intrinsics, stamp, lay.optical_frame)
            write(lay.color_info_topic, t, info)
            write(lay.depth_info_topic, t, info)
        if ground_truth is not None:
            from sim2art_ros.conversions.articulation import estimate_to_msg

            n = len(ground_truth.stamps_ns)
            if n > len(frames):
                raise ValueError(f"ground truth has {n} stamps but only {len(frames)} frames were rendered")
            gt = transform_estimate(ground_truth, config.odom_from_world, lay.fixed_frame, stamps[:n])
            write(lay.ground_truth_topic, stamps[-1], estimate_to_msg(gt, config.object_id))
    return BagSummary(path=path, counts=dict(counts), duration_s=float(stamps[-1] - stamps[0]) / 1e9)


# -- from the data engine -----------------------------------------------------------------------------


def _type_name(f: dataclasses.Field) -> str:
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")


def _realism_fields():
    """RealismConfig and its scalar fields (each becomes a --realism-* flag)."""
    from sim2art_core.data.generator import RealismConfig

    scalar = ("bool", "float", "int", "str")
    return RealismConfig, [f for f in dataclasses.fields(RealismConfig) if _type_name(f) in scalar]


def write_sequence_bag(
    path: str | Path,
    category: str,
    object_seed: int = 0,
    sequence_seed: int = 0,
    sequence_config=None,
    config: BagWriterConfig | None = None,
) -> BagSummary:
    """Render one synthetic sequence with the data engine and write it as a bag with its ground truth."""
    from sim2art_core.data.generator import generate_sequence
    from sim2art_core.data.ground_truth import ground_truth_estimate

    sample, frames = generate_sequence(category, object_seed, sequence_seed, sequence_config, return_frames=True)
    config = config or BagWriterConfig()
    if config.object_id == BagWriterConfig.object_id:
        config = dataclasses.replace(config, object_id=sample.object_id)
    return write_bag(path, frames, ground_truth_estimate(sample), config)


def _odom_from_world(values: Sequence[float]) -> np.ndarray:
    x, y, z, yaw = (float(v) for v in values)
    c, s = np.cos(yaw), np.sin(yaw)
    return make_transform(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]), np.array([x, y, z]))


def build_parser(realism_fields=()) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim2art-bag-from-sim",
        description="Render synthetic articulated-object sequences and write them as rosbag2 bags with "
        "colour, depth, camera_info, /tf, /tf_static and /articulation_ground_truth (docs/BAGS.md).",
    )
    p.add_argument("out", type=Path, help="bag directory to create (with --count > 1: a folder of bags)")
    add_object_arguments(p)
    p.add_argument("--count", type=int, default=1, help="number of bags (sequence seeds seed, seed+1, ...)")
    add_size_arguments(p, 16, 320, 240, "frames T of the sample (the bag holds T + 1 images)")
    p.add_argument("--storage", choices=sorted(STORAGES), default="mcap", help="rosbag2 storage (default mcap)")
    p.add_argument("--depth-encoding", choices=DEPTH_ENCODINGS, default="16UC1", help="16UC1 mm or 32FC1 m")
    p.add_argument(
        "--odom-from-world", type=float, nargs=4, default=(0.0, 0.0, 0.0, 0.0), metavar=("X", "Y", "Z", "YAW"),
        help="pose of the object's frame in odom (m, rad about z)",
    )  # fmt: skip
    p.add_argument("--start-time", type=float, default=DEFAULT_START_NS / 1e9, help="first stamp, s since epoch")
    for f in realism_fields:
        flag = "--realism-" + f.name.replace("_", "-")
        if _type_name(f) == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help="RealismConfig." + f.name)
        else:
            kind = {"float": float, "int": int, "str": str}[_type_name(f)]
            p.add_argument(flag, type=kind, default=None, help=f"RealismConfig.{f.name} (default {f.default!r})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        RealismConfig, rfields = _realism_fields()
    except ImportError as exc:  # the data engine is part of sim2art_core; this only fails on a broken install
        print(f"sim2art-bag-from-sim: the data engine is not available: {exc}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from sim2art_core.data.generator import SequenceConfig

    args = build_parser(rfields).parse_args(argv)
    chosen = {f.name: getattr(args, "realism_" + f.name) for f in rfields}
    realism = RealismConfig(**{k: v for k, v in chosen.items() if v is not None})
    seq_config = SequenceConfig(width=args.width, height=args.height, num_frames=args.frames, realism=realism)
    config = BagWriterConfig(
        storage=args.storage,
        depth_encoding=args.depth_encoding,
        start_time_ns=int(round(args.start_time * 1e9)),
        odom_from_world=_odom_from_world(args.odom_from_world),
    )
    seeds = [args.sequence_seed + i for i in range(args.count)]
    outs = [args.out] if args.count == 1 else [args.out / f"{args.category}-{args.object_seed}-{s}" for s in seeds]
    for out, seed in tqdm(list(zip(outs, seeds, strict=True)), desc="bags", unit="bag", disable=args.count == 1):
        try:
            summary = write_sequence_bag(out, args.category, args.object_seed, seed, seq_config, config)
        except (ValueError, FileExistsError) as exc:
            print(f"sim2art-bag-from-sim: error: {exc}", file=sys.stderr)
            return 2
        counts = ", ".join(f"{t} {n}" for t, n in summary.counts.items())
        print(f"wrote {summary.path} ({summary.duration_s:.2f} s): {counts}")
    print(json.dumps({"realism": dataclasses.asdict(realism)}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
