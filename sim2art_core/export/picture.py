"""Picture of an exported model posed at joint states (matplotlib; the demo and the docs)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sim2art_core.estimate import ArticulationEstimate
from sim2art_core.export.observed import part_poses
from sim2art_core.export.urdf import UrdfModel
from sim2art_core.geometry import transform_points


def posed_link_vertices(model: UrdfModel, estimate: ArticulationEstimate, frame: int) -> dict[str, list[np.ndarray]]:
    """Link name -> (V, 3) vertices per convex piece in the fixed frame, every joint at its state of ``frame``."""
    poses = part_poses(
        estimate, {k: float(j.amounts[frame]) for j in estimate.joints if (k := j.child) in model.joint_names}
    )
    return {
        link.name: [transform_points(poses[label], m.vertices + link.origin) for m in link.meshes]
        for label, link in model.links.items()
    }


def plot_posed_model(
    model: UrdfModel, estimate: ArticulationEstimate, path: str | Path, frames: Sequence[int] = (0, -1)
) -> Path:
    """PNG with one 3-D view per frame: every link's convex pieces posed at that frame's estimated joint states."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    fig = plt.figure(figsize=(6 * len(frames), 5.5))
    colors = plt.get_cmap("tab10")
    all_v = np.concatenate([v for f in frames for vs in posed_link_vertices(model, estimate, f).values() for v in vs])
    lo, hi = all_v.min(axis=0), all_v.max(axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-3)
    for i, frame in enumerate(frames):
        ax = fig.add_subplot(1, len(frames), i + 1, projection="3d")
        posed = posed_link_vertices(model, estimate, frame)
        for k, link in enumerate(model.links.values()):
            alpha = 0.3 if k == 0 else 0.8  # the base first, see-through
            for mesh, v in zip(link.meshes, posed[link.name], strict=True):
                poly = Poly3DCollection(v[mesh.faces], facecolor=colors(k % 10), edgecolor="none", alpha=alpha)
                ax.add_collection3d(poly)
        by_child = {j.child: j for j in estimate.joints}
        states = ", ".join(
            f"{name.split('/')[-1]} {by_child[c].amounts[frame]:.3g}" for c, name in model.joint_names.items()
        )
        t = frame if frame >= 0 else estimate.stamps_ns.shape[0] + frame
        ax.set_title(f"frame {t}: {states or 'base only'}", fontsize=9)
        for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre, strict=True):
            setter(c - half, c + half)
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
        ax.set_zlabel("z [m]")
    fig.suptitle(f"exported URDF ({len(model.links)} links, {len(model.joint_names)} movable joints), "
                 f"frame '{estimate.frame_id}'")  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
