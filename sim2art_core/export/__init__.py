"""Estimate -> URDF digital twin (ROS-free): a base link and one link per moving part with convex-hull
meshes, mass and inertia, revolute / prismatic joints with limits (docs/EXPORT.md)."""

from sim2art_core.export.config import ExportConfig
from sim2art_core.export.mesh import MassProperties, PartMesh, mass_properties, part_mesh
from sim2art_core.export.observed import (
    ObservedGeometry,
    observed_geometry_from_bounds,
    observed_geometry_from_cloud,
    observed_geometry_from_window,
    part_poses,
)
from sim2art_core.export.urdf import (
    URDF_SCHEMA_VERSION,
    ExportedLink,
    ExportError,
    UrdfModel,
    export_urdf,
    joint_name,
)

__all__ = [
    "URDF_SCHEMA_VERSION", "ExportConfig", "ExportError", "ExportedLink", "MassProperties", "ObservedGeometry",
    "PartMesh", "UrdfModel", "export_urdf", "mass_properties", "observed_geometry_from_bounds",
    "joint_name", "observed_geometry_from_cloud", "observed_geometry_from_window", "part_mesh", "part_poses",
]  # fmt: skip
