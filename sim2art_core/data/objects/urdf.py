"""URDF export of :class:`ArticulatedObject` and import of external URDFs (e.g. PartNet-Mobility).

Export: one file per object whose name carries a hash of its content (PyBullet caches files by path,
so re-using a path silently renders an old object), with a dummy ``<inertial>`` per link (PyBullet
warns without one) and no collision geometry (only rendering is needed). Procedural textures are
written as PNG files next to it and referenced as ``<material><texture filename=.../></material>``.

Import: links with box / cylinder / sphere / mesh visuals, materials (inline or robot-level), joints
of type revolute, continuous (= revolute without limits), prismatic and fixed (merged into the parent
part). Floating, planar and unknown joint types raise ``ValueError`` naming the joint.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2

from sim2art_core.data.objects.model import ArticulatedObject, Joint, Link, Visual
from sim2art_core.data.textures import TEXTURE_NAMES, texture_image

_INERTIAL = (
    '<inertial><mass value="0.1"/><inertia ixx="0.001" ixy="0" ixz="0" iyy="0.001" iyz="0" izz="0.001"/></inertial>'
)


def _f(x: float) -> str:
    return repr(float(x))


def _v(xs) -> str:
    return " ".join(_f(x) for x in xs)


def _geometry(v: Visual) -> str:
    if v.shape == "box":
        return f'<box size="{_v(v.size)}"/>'
    if v.shape == "cylinder":
        return f'<cylinder radius="{_f(v.size[0])}" length="{_f(v.size[2])}"/>'
    if v.shape == "sphere":
        return f'<sphere radius="{_f(v.size[0])}"/>'
    return f'<mesh filename="{_escape(v.mesh)}" scale="{_v(v.size)}"/>'


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def urdf_text(obj: ArticulatedObject, texture_refs: dict[str, str]) -> str:
    """The URDF document of ``obj``; ``texture_refs`` maps link names to the texture file to reference."""
    lines = [f'<?xml version="1.0"?>\n<robot name="{_escape(obj.name)}">']
    for lk in obj.links:
        lines.append(f'  <link name="{_escape(lk.name)}">{_INERTIAL}')
        for k, v in enumerate(lk.visuals):
            mat = ""
            tex = texture_refs.get(lk.name)
            if v.rgba is not None or tex:
                color = f'<color rgba="{_v(v.rgba)}"/>' if v.rgba is not None else ""
                texture = f'<texture filename="{_escape(tex)}"/>' if tex else ""
                mat = f'<material name="{_escape(lk.name)}_m{k}">{color}{texture}</material>'
            origin = f'<origin xyz="{_v(v.xyz)}" rpy="{_v(v.rpy)}"/>'
            lines.append(f"    <visual>{origin}<geometry>{_geometry(v)}</geometry>{mat}</visual>")
        lines.append("  </link>")
    for j in obj.joints:
        parts = [
            f'  <joint name="{_escape(j.name)}" type="{j.type}">',
            f'<parent link="{_escape(j.parent)}"/><child link="{_escape(j.child)}"/>',
            f'<origin xyz="{_v(j.xyz)}" rpy="{_v(j.rpy)}"/>',
        ]
        if j.movable:
            parts.append(f'<axis xyz="{_v(j.axis)}"/>')
        if j.type in ("revolute", "prismatic"):
            parts.append(f'<limit lower="{_f(j.lower)}" upper="{_f(j.upper)}" effort="10" velocity="1"/>')
        parts.append("</joint>")
        lines.append("".join(parts))
    lines.append("</robot>\n")
    return "\n".join(lines)


def write_urdf(obj: ArticulatedObject, directory: Path) -> Path:
    """Write ``obj`` (and its procedural textures) into ``directory``; see module doc."""
    directory.mkdir(parents=True, exist_ok=True)
    refs = {}
    for lk in obj.links:
        if lk.texture is None:
            continue
        if lk.texture in TEXTURE_NAMES:
            rel = f"textures/{lk.texture}.png"
            target = directory / rel
            if not target.exists():
                target.parent.mkdir(exist_ok=True)
                _atomic_write(target, cv2.imencode(".png", texture_image(lk.texture))[1].tobytes())
            refs[lk.name] = rel
        else:
            refs[lk.name] = str(Path(lk.texture).resolve())
    text = urdf_text(obj, refs)
    digest = hashlib.sha1(text.encode()).hexdigest()[:16]
    path = directory / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', obj.name)}-{digest}.urdf"
    if not path.exists():
        _atomic_write(path, text.encode())
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------- import
def _floats(text: str | None, n: int, default: tuple[float, ...], what: str) -> tuple[float, ...]:
    if text is None:
        return default
    try:
        vals = tuple(float(x) for x in text.split())
    except ValueError as e:
        raise ValueError(f"{what}: cannot parse numbers from {text!r}") from e
    if len(vals) == 1 and n == 3 and what.endswith("scale"):
        vals = vals * 3
    if len(vals) != n:
        raise ValueError(f"{what}: expected {n} numbers, got {text!r}")
    return vals


def _origin(el: ET.Element | None, what: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if el is None:
        return (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)
    return (
        _floats(el.get("xyz"), 3, (0.0, 0.0, 0.0), f"{what} origin xyz"),
        _floats(el.get("rpy"), 3, (0.0, 0.0, 0.0), f"{what} origin rpy"),
    )


def _resolve(filename: str, base: Path, what: str) -> str:
    """Absolute path of a file referenced by a URDF (relative, file:// or package:// names)."""
    name = filename.strip()
    candidates = []
    if name.startswith("file://"):
        candidates.append(Path(name[len("file://") :]))
    elif name.startswith("package://"):
        rest = name[len("package://") :]
        pkg, _, sub = rest.partition("/")
        candidates += [base / sub, base / rest, base.parent / rest]
    else:
        candidates.append(Path(name) if os.path.isabs(name) else base / name)
    for c in candidates:
        if c.is_file():
            return str(c.resolve())
    raise FileNotFoundError(f"{what}: file {filename!r} not found (looked at {', '.join(map(str, candidates))})")


def load_urdf_object(path: str | Path, category: str = "urdf") -> ArticulatedObject:
    """Parse an external URDF (meshes resolved to absolute paths) into an :class:`ArticulatedObject`.

    Raises:
        FileNotFoundError: the URDF or a referenced mesh/texture is missing (the message names it).
        ValueError: malformed XML, unsupported geometry or joint type (floating, planar, ...), or a
            link graph that is not a tree; the message names the file and the offending element.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"URDF not found: {path}")
    try:
        robot = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"{path}: malformed URDF XML: {e}") from e
    if robot.tag != "robot":
        raise ValueError(f"{path}: root element is <{robot.tag}>, expected <robot>")
    base = path.parent
    materials: dict[str, tuple[tuple[float, ...] | None, str | None]] = {}
    for m in robot.findall("material"):
        materials[m.get("name", "")] = _material(m, base, None, f"{path}: material {m.get('name')!r}")

    links: dict[str, Link] = {}
    for lk in robot.findall("link"):
        name = lk.get("name")
        if not name:
            raise ValueError(f"{path}: a <link> has no name")
        visuals, texture = [], None
        for k, vis in enumerate(lk.findall("visual")):
            what = f"{path}: link {name!r} visual {k}"
            xyz, rpy = _origin(vis.find("origin"), what)
            geom = vis.find("geometry")
            if geom is None or len(geom) == 0:
                raise ValueError(f"{what}: no <geometry>")
            g = geom[0]
            mat_el = vis.find("material")
            rgba, tex = (None, None)
            if mat_el is not None:
                rgba, tex = _material(mat_el, base, materials.get(mat_el.get("name", "")), what)
            texture = texture or tex
            visuals.append(_visual(g, xyz, rpy, rgba, base, what))
        links[name] = Link(name, tuple(visuals), texture)

    joints = []
    for je in robot.findall("joint"):
        jname = je.get("name", "")
        jtype = je.get("type", "")
        what = f"{path}: joint {jname!r}"
        if jtype in ("floating", "planar"):
            raise ValueError(f"{what} has type {jtype!r}, which has no single axis; sim2art supports "
                             "revolute, continuous, prismatic and fixed joints")  # fmt: skip
        if jtype not in ("revolute", "continuous", "prismatic", "fixed"):
            raise ValueError(f"{what} has unknown type {jtype!r}")
        if je.find("mimic") is not None:
            raise ValueError(f"{what} is a mimic joint, which sim2art does not support")
        parent, child = je.find("parent"), je.find("child")
        if parent is None or child is None:
            raise ValueError(f"{what}: missing <parent> or <child>")
        xyz, rpy = _origin(je.find("origin"), what)
        axis_el = je.find("axis")
        axis = _floats(axis_el.get("xyz") if axis_el is not None else None, 3, (1.0, 0.0, 0.0), f"{what} axis")
        lower = upper = 0.0
        if jtype in ("revolute", "prismatic"):
            lim = je.find("limit")
            if lim is None:
                raise ValueError(f"{what}: {jtype} joint without <limit>")
            lower, upper = float(lim.get("lower", 0.0)), float(lim.get("upper", 0.0))
            if not (math.isfinite(lower) and math.isfinite(upper)):
                raise ValueError(f"{what}: limits must be finite")
        joints.append(Joint(jname, jtype, parent.get("link", ""), child.get("link", ""), xyz, rpy, axis, lower, upper))

    return ArticulatedObject(
        name=robot.get("name") or path.stem,
        category=category,
        seed=0,
        links=tuple(links[n] for n in _tree_order(links, joints, path)),
        joints=tuple(_joint_order(joints, links, path)),
        source=str(path.resolve()),
    )


def _material(el: ET.Element, base: Path, named, what: str):
    rgba, tex = named if named else (None, None)
    c = el.find("color")
    if c is not None:
        rgba = _floats(c.get("rgba"), 4, (0.7, 0.7, 0.7, 1.0), f"{what} color")
    t = el.find("texture")
    if t is not None and t.get("filename"):
        tex = _resolve(t.get("filename"), base, f"{what} texture")
    return rgba, tex


def _visual(g: ET.Element, xyz, rpy, rgba, base: Path, what: str) -> Visual:
    kw = dict(xyz=xyz, rpy=rpy, rgba=rgba)
    if g.tag == "box":
        return Visual("box", _floats(g.get("size"), 3, (0, 0, 0), f"{what} box size"), **kw)
    if g.tag == "cylinder":
        r, length = float(g.get("radius", 0)), float(g.get("length", 0))
        return Visual("cylinder", (r, r, length), **kw)
    if g.tag == "sphere":
        r = float(g.get("radius", 0))
        return Visual("sphere", (r, r, r), **kw)
    if g.tag == "mesh":
        mesh = _resolve(g.get("filename", ""), base, f"{what} mesh")
        scale = _floats(g.get("scale"), 3, (1.0, 1.0, 1.0), f"{what} mesh scale")
        return Visual("mesh", scale, mesh=mesh, **kw)
    raise ValueError(f"{what}: unsupported geometry <{g.tag}> (supported: box, cylinder, sphere, mesh)")


def _tree_order(links: dict[str, Link], joints: list[Joint], path: Path) -> list[str]:
    children: dict[str, list[str]] = {}
    child_set = set()
    for j in joints:
        for n in (j.parent, j.child):
            if n not in links:
                raise ValueError(f"{path}: joint {j.name!r} refers to unknown link {n!r}")
        if j.child in child_set:
            raise ValueError(f"{path}: link {j.child!r} is the child of several joints")
        child_set.add(j.child)
        children.setdefault(j.parent, []).append(j.child)
    roots = [n for n in links if n not in child_set]
    if len(roots) != 1:
        raise ValueError(f"{path}: expected one root link, found {roots or 'none (cycle)'}")
    order, stack = [], [roots[0]]
    while stack:
        n = stack.pop(0)
        order.append(n)
        stack[:0] = children.get(n, [])
    if len(order) != len(links):
        raise ValueError(f"{path}: links {sorted(set(links) - set(order))} are not connected to the root")
    return order


def _joint_order(joints: list[Joint], links: dict[str, Link], path: Path) -> list[Joint]:
    """Joints sorted so that each joint's parent link is placed before it (file order otherwise)."""
    placed = {n for n in links if n not in {j.child for j in joints}}
    out, pending = [], list(joints)
    while pending:
        ready = [j for j in pending if j.parent in placed]
        if not ready:
            raise ValueError(f"{path}: the joints do not form a tree")
        for j in ready:
            out.append(j)
            placed.add(j.child)
        pending = [j for j in pending if j not in ready]
    return out
