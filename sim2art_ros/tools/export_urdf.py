"""sim2art-export-urdf: a bag with ``/articulation`` (recorded or replayed) -> a URDF folder (docs/EXPORT.md).

    sim2art-export-urdf BAG --out FOLDER [--articulation-topic /articulation]
                        [--cloud-topic /sim2art_perceive/points] [--stamp NS] [--joints confirmed|all]

Takes the newest non-FAILED estimate on the articulation topic (or the one whose newest window stamp is
``--stamp``). ``/articulation`` carries joints and part bounds but no points, so the meshes come from the
node's segmented cloud (``~/points``: the estimate's newest frame with a ``part_id`` per point, recorded by
``sim2art-bag-eval`` and ``make demo``) with the same stamp; without that cloud each link is the box of the
part's bounds (said on stdout and in the URDF comments as "hull of 8 observed points"). Exit codes: 0 written,
1 no usable estimate in the bag, 2 the bag cannot be read or the export failed. ``--joints confirmed`` (default,
as the node's ``planner_joints``) keeps only the fused model's confirmed joints movable; the others
become fixed (``ExportConfig.joints``; a per-window estimate has none confirmed: use ``--joints all``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.export import (
    ExportConfig,
    ExportError,
    UrdfModel,
    export_urdf,
    observed_geometry_from_bounds,
    observed_geometry_from_cloud,
)
from sim2art_core.types import EstimateStatus, JointType
from sim2art_ros.bags import io as bag_io
from sim2art_ros.conversions.articulation import msg_to_estimate
from sim2art_ros.conversions.image_codec import stamp_to_ns
from sim2art_ros.conversions.markers import cloud_to_array

CLOUD_TOPIC = "/sim2art_perceive/points"


def read_estimate_and_cloud(bag: Path, topic: str, cloud_topic: str, stamp: int | None = None):
    """(estimate, cloud array or None, object_id) for the chosen estimate; (None, None, "") when there is none."""
    chosen, object_id, clouds = None, "", {}
    with bag_io.open_bag(bag) as reader:
        conns = [c for c in reader.connections if c.topic in (topic, cloud_topic)]
        for conn, _, raw in bag_io.iter_raw(reader, conns, bag):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == cloud_topic:
                clouds[stamp_to_ns(msg.header.stamp)] = cloud_to_array(msg).copy()
                continue
            if int(msg.status) == EstimateStatus.FAILED or not len(msg.window_stamps):
                continue
            newest = stamp_to_ns(msg.window_stamps[-1])
            if stamp is None or newest == stamp:
                chosen, object_id = msg, str(msg.object_id)
    if chosen is None:
        return None, None, ""
    est = msg_to_estimate(chosen)
    return est, clouds.get(int(est.stamps_ns[-1])), object_id


def export_from_bag(bag: Path, out: Path, topic: str = "/articulation", cloud_topic: str = CLOUD_TOPIC,
                    stamp: int | None = None, joints: str = "confirmed",
                    ) -> tuple[UrdfModel, Path, str, ArticulationEstimate] | None:  # fmt: skip
    """Export the chosen estimate of ``bag`` into ``out``: (model, URDF path, geometry source, estimate), or
    None when the bag has no non-FAILED estimate."""
    est, cloud, object_id = read_estimate_and_cloud(bag, topic, cloud_topic, stamp)
    if est is None:
        return None
    if cloud is not None and len(cloud):
        pts = np.c_[cloud["x"], cloud["y"], cloud["z"]]
        geometry, source = observed_geometry_from_cloud(est, pts, cloud["part_id"].astype(np.int64)), "cloud"
    else:
        geometry, source = observed_geometry_from_bounds(est), "part bounds (no segmented cloud in the bag)"
    cfg = ExportConfig(link_prefix=f"{object_id or 'object'}/", robot_name=object_id or "object", joints=joints)
    model = export_urdf(est, geometry, cfg)
    return model, model.write(out), source, est


def fixed_note(est: ArticulationEstimate, joints: str) -> str:
    """'; N unconfirmed joints fixed' when ``joints`` is "confirmed" and the estimate has unconfirmed movable joints."""
    n = sum(1 for j in est.joints if j.type != JointType.STATIC and not j.confirmed)
    return f"; {n} unconfirmed joint{'s' if n != 1 else ''} fixed" if joints == "confirmed" and n else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sim2art-export-urdf", description=__doc__.split("\n")[0])
    p.add_argument("bag", type=Path, help="rosbag2 folder (or its .db3/.mcap file)")
    p.add_argument("--out", type=Path, default=Path("object"), help="URDF folder (default ./object)")
    p.add_argument("--articulation-topic", default="/articulation")
    p.add_argument("--cloud-topic", default=CLOUD_TOPIC, help="the node's segmented cloud ('' = use part bounds)")
    p.add_argument("--stamp", type=int, default=None, help="export the estimate whose newest window stamp is NS")
    p.add_argument(
        "--joints", choices=("confirmed", "all"), default="confirmed",
        help="movable URDF joints: the fused model's confirmed ones (default; the others fixed) or all",
    )  # fmt: skip
    args = p.parse_args(argv)
    try:
        result = export_from_bag(args.bag, args.out, args.articulation_topic, args.cloud_topic, args.stamp, args.joints)
    except (bag_io.BagError, ExportError) as e:
        print(f"sim2art-export-urdf: {e}", file=sys.stderr)
        return 2
    if result is None:
        print(
            f"sim2art-export-urdf: no non-FAILED estimate on {args.articulation_topic} in {args.bag}", file=sys.stderr
        )
        return 1
    model, path, source, est = result
    print(f"wrote {path} ({len(model.links)} links, {len(model.joint_names)} movable joints, "
          f"{len(model.files)} meshes; geometry from {source}){fixed_note(est, args.joints)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
