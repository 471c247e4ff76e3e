"""Shared fixtures of the data-engine tests: tiny configs, cached samples, a mesh URDF, checks."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.sequence import SequenceSample
from sim2art_core.geometry import fit_rigid, prismatic_motion, revolute_motion, transform_points
from sim2art_core.types import JointType

TINY = SequenceConfig(num_frames=5, num_points=384, width=96, height=72)


@cache
def tiny_sample(category: str, object_seed: int = 1, sequence_seed: int = 2, cfg: SequenceConfig = TINY):
    """(sample, frames) of a small sequence, generated once per test session."""
    return generate_sequence(category, object_seed, sequence_seed, cfg, return_frames=True)


@pytest.fixture
def tiny():
    return tiny_sample


def expected_motion(sample: SequenceSample, p: int, t: int) -> np.ndarray:
    """4x4 motion in cam0 of part p (attached to a static parent) from frame t to t + 1."""
    j = p - 1
    delta = float(sample.joint_states[t + 1, j] - sample.joint_states[t, j])
    axis, pivot = sample.part_axes[p].astype(float), sample.part_pivots[p].astype(float)
    if sample.part_types[p] == JointType.REVOLUTE:
        return revolute_motion(axis, pivot, delta)
    return prismatic_motion(axis, delta)


def check_rigid_ground_truth(sample: SequenceSample, tol: float = 1e-3) -> int:
    """Per part and frame pair: a rigid transform fits (p, p + flow) within ``tol`` (m) and agrees with the
    joint's axis, pivot and amount; the root's flow is exactly zero. Returns the number of checked fits."""
    checked = 0
    root = sample.labels == 0
    assert np.all(sample.flow[root] == 0), "static root points must have zero flow"
    for p in range(1, sample.num_parts):
        assert sample.part_parents[p] == 0, "procedural parts hang off the root"
        for t in range(sample.num_frames):
            sel = sample.labels[t] == p
            if sel.sum() < 3:
                continue
            src = sample.points[t, sel].astype(float)
            dst = src + sample.flow[t, sel]
            fit = fit_rigid(src, dst)
            assert fit.rms < tol, (p, t, fit.rms)
            err = np.abs(transform_points(expected_motion(sample, p, t), src) - dst).max()
            assert err < tol, (sample.object_id, p, t, err)
            if sample.joint_states[t + 1, p - 1] == sample.joint_states[t, p - 1]:
                assert np.all(sample.flow[t, sel] == 0), "a part that does not move has zero flow"
            checked += 1
    return checked


@pytest.fixture
def rigid_check():
    return check_rigid_ground_truth


CUBE_OBJ = "".join(f"v {x} {y} {z}\n" for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)) + (
    "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
    "f 1/1 2/2 4/3 3/4\nf 5/1 7/2 8/3 6/4\nf 1/1 5/2 6/3 2/4\nf 3/1 4/2 8/3 7/4\nf 1/1 3/2 7/3 5/4\nf 2/1 6/2 8/3 4/4\n"
)


def write_mesh_object(root: Path, extra_joint: str = "") -> Path:
    """A PartNet-Mobility-like object: mobility.urdf + textured_objs/*.obj (an empty base link, a body on a
    fixed joint, a door on a revolute joint with a knob on a fixed joint, a wheel on a continuous joint and a
    drawer on a prismatic one)."""
    (root / "textured_objs").mkdir(parents=True)
    (root / "textured_objs" / "cube.obj").write_text(CUBE_OBJ)
    mesh = '<geometry><mesh filename="textured_objs/cube.obj" scale="{s}"/></geometry>'
    urdf = f"""<?xml version="1.0"?>
<robot name="mesh_cabinet">
  <material name="grey"><color rgba="0.6 0.6 0.6 1"/></material>
  <link name="base"/>
  <link name="body"><visual><origin xyz="0 0 0.3"/>{mesh.format(s="0.4 0.6 0.6")}<material name="grey"/></visual></link>
  <link name="door"><visual><origin xyz="0.01 0.15 0"/>{mesh.format(s="0.02 0.3 0.25")}
    <material name="red"><color rgba="0.8 0.2 0.2 1"/></material></visual></link>
  <link name="knob"><visual><origin xyz="0.03 0.25 0"/><geometry><sphere radius="0.02"/></geometry></visual></link>
  <link name="wheel"><visual><geometry><cylinder radius="0.08" length="0.02"/></geometry>
    <material name="blue"><color rgba="0.2 0.3 0.8 1"/></material></visual></link>
  <link name="drawer"><visual><origin xyz="-0.15 0 0"/>{mesh.format(s="0.3 0.25 0.1")}</visual></link>
  <joint name="j_body" type="fixed"><parent link="base"/><child link="body"/><origin xyz="0 0 0" rpy="0 0 0"/></joint>
  <joint name="j_door" type="revolute"><parent link="body"/><child link="door"/>
    <origin xyz="0.2 -0.15 0.45"/><axis xyz="0 0 -1"/><limit lower="0" upper="1.6" effort="1" velocity="1"/></joint>
  <joint name="j_knob" type="fixed"><parent link="door"/><child link="knob"/></joint>
  <joint name="j_wheel" type="continuous"><parent link="body"/><child link="wheel"/>
    <origin xyz="0 0.31 0.3" rpy="1.5707963 0 0"/><axis xyz="0 0 1"/></joint>
  <joint name="j_drawer" type="prismatic"><parent link="body"/><child link="drawer"/>
    <origin xyz="0.2 0.12 0.15"/><axis xyz="1 0 0"/><limit lower="0" upper="0.25" effort="1" velocity="1"/></joint>
  {extra_joint}
</robot>
"""
    path = root / "mobility.urdf"
    path.write_text(urdf)
    return path


@pytest.fixture
def mesh_object(tmp_path) -> Path:
    return write_mesh_object(tmp_path / "partnet_like")


@pytest.fixture
def mesh_object_writer():
    return write_mesh_object
