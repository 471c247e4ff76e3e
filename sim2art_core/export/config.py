"""Settings of the estimate -> URDF export (sim2art_core.export)."""

from __future__ import annotations

from dataclasses import dataclass

from sim2art_core.estimate import PLANNER_JOINTS


@dataclass(frozen=True)
class ExportConfig:
    """How an :class:`~sim2art_core.estimate.ArticulationEstimate` becomes a URDF.

    Distances in m, angles in rad, mass in kg.
    """

    robot_name: str = "object"
    """``<robot name>`` of the URDF (sanitised to [A-Za-z0-9_])."""
    link_prefix: str = "object/"
    """Prefix of every link and joint name, so the object's TF frames never clash with the robot's. The
    node uses ``<object_id>/``: its URDF joints are then named like its ``~/joint_states`` entries and
    its joint TF frames (``<object_id>/joint_<child>``); links are ``<object_id>/base``,
    ``<object_id>/part_<label>``."""
    attach_to_fixed_frame: bool = True
    """True: the URDF's root link is named like the estimate's fixed frame (e.g. ``odom``) and the base
    link hangs below it on a fixed joint, so robot_state_publisher places the object in that frame with
    no extra TF. False: the base link is the root (the object then sits at the URDF origin)."""
    density: float = 500.0
    """kg/m^3 used for every part's mass: the convex hull is taken as a solid of this density (light
    wood / particle board). A hollow body (a drawer, a box) is lighter in reality; the mass and
    inertia are plausible values for simulation, not measurements."""
    min_mass: float = 0.01
    """Floor of every link's mass (a sliver of points would otherwise give ~0 kg, which simulators reject)."""
    min_thickness: float = 0.01
    """A part whose points are (nearly) flat or a line - a door front seen from one side - is thickened
    to this extent along its thinnest direction (towards the parent part), so the mesh has a volume."""
    min_hull_points: int = 8
    """Fewer distinct finite points than this give a box (the points' bounds, at least
    ``min_thickness`` per side) instead of a convex hull."""
    empty_box_size: float = 0.02
    """Edge of the cube used for a part with no observed point (placed at its link origin)."""
    max_hull_points: int = 20000
    """At most this many of a part's points go into the hull (deterministic stride subsample)."""
    max_pieces: int = 16
    """At most this many convex pieces per part (k-means clusters of its points, each with its own hull);
    a concave part (a cabinet body, a drawer) needs several for its mesh to follow the observed surface."""
    piece_tolerance: float = 0.004
    """m: more pieces are used (k = 1, 2, 4, ...) until the mean distance of a part's points to its
    pieces' surfaces is at most this (or the noise tolerance below, when larger)."""
    noise_tolerance: float = 0.0
    """Times a part's measured point noise (:func:`sim2art_core.export.mesh.point_noise`: the thickness of
    its observed surface) that its pieces may miss it by: the part's tolerance is the larger of this times
    its noise and ``piece_tolerance``; 0 (default) = ``piece_tolerance`` for every part. The hull of a noisy
    flat front misses its points by 2-3.5 times their noise, so 3 keeps such a front one piece where the
    fixed tolerance takes 16. Off by default, by measurement (docs/BENCHMARKS.md "A noise-adaptive piece
    tolerance"): the node's parts are not noisy planes (their one-hull error is 7-11 times their noise), so
    3 halved the pieces of 4 of 8 door links at twice the mesh error (12-15 -> 27-34 mm) and 1.5x the export's CPU
    (the search then tries k = 2, 4, 8 as well), and 2 changed no piece count."""
    revolute_margin: float = 0.1
    """rad added below the smallest and above the largest observed revolute state for the joint limits."""
    prismatic_margin: float = 0.02
    """m added below the smallest and above the largest observed prismatic state for the joint limits."""
    effort: float = 10.0
    """``<limit effort>`` (N or N m) written for every movable joint (URDF requires one; not estimated)."""
    velocity: float = 1.0
    """``<limit velocity>`` (rad/s or m/s) written for every movable joint (URDF requires one; not estimated)."""
    mesh_format: str = "stl"
    """Mesh file format: "stl" (binary) or "obj" (text)."""
    mesh_dir: str = "meshes"
    """Folder, relative to the URDF file, the meshes are written to and referenced from."""
    joints: str = "all"
    """Which of the estimate's movable joints stay movable in the URDF: "all", or "confirmed" — a joint the
    fused model has not confirmed (``JointEstimate.confirmed`` False: a hypothesis, e.g. flow noise on the
    static body) becomes a fixed joint, its part merged into its parent's link at the joint's state 0, so
    a planner loading the URDF moves only what the model presents as a fact. Per-window estimates are
    never confirmed: "confirmed" makes every joint of such an estimate fixed."""
    decimals: int = 9
    """Decimals of every number in the URDF (fixed-point; 1e-9 m keeps axis/origin exact to well under 1e-6)."""

    def __post_init__(self) -> None:
        if self.mesh_format not in ("stl", "obj"):
            raise ValueError(f"ExportConfig.mesh_format must be 'stl' or 'obj', got {self.mesh_format!r}")
        positive = ("density", "min_mass", "min_thickness", "empty_box_size", "effort", "velocity")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"ExportConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.revolute_margin < 0 or self.prismatic_margin < 0:
            raise ValueError("ExportConfig: joint-limit margins must be >= 0")
        if self.min_hull_points < 4 or self.max_hull_points < self.min_hull_points:
            raise ValueError("ExportConfig: need 4 <= min_hull_points <= max_hull_points")
        if self.max_pieces < 1 or not self.piece_tolerance > 0 or not self.noise_tolerance >= 0:
            raise ValueError("ExportConfig: need max_pieces >= 1, piece_tolerance > 0 and noise_tolerance >= 0")
        if self.joints not in PLANNER_JOINTS:
            raise ValueError(f"ExportConfig.joints must be one of {list(PLANNER_JOINTS)}, got {self.joints!r}")
        if not 3 <= self.decimals <= 12:
            raise ValueError(f"ExportConfig.decimals must be in [3, 12], got {self.decimals}")
