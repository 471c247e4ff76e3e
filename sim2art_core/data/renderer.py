"""PyBullet (TinyRenderer, CPU) rendering of an articulated object: RGB, metric depth, part mask.

Two PyBullet traps are handled here (measured, see docs/DATA.md and test_renderer.py):

1. Pixel centres. TinyRenderer samples pixel (u, v) half a pixel off the OpenCV convention of
   :mod:`sim2art_core.camera` (pixel (u, v) centred at image coordinates (u, v)). Fitting the rendered
   depth of two slanted planes against closed-form ray casts gives, at every resolution tried,
   ``fx = fy = H / (2 tan(fov_y / 2))``, ``cx = W / 2``, ``cy = H / 2 - 1`` (in the "pixel centre at
   u + 0.5" convention of docs/reference this reads cx = W/2 + 0.5, cy = H/2 - 0.5). With the naive
   centred principal point, depth on slanted surfaces is off by millimetres.
2. File caching. PyBullet caches URDF/mesh files by path, even across resetSimulation; loading a new
   object written to an old path renders the old object. The renderer turns caching off and every
   object is written to a file whose name contains a hash of its content.

One DIRECT client per process (``get_renderer()``), re-created after a fork.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sim2art_core.camera import Intrinsics
from sim2art_core.data.objects.model import ArticulatedObject
from sim2art_core.data.textures import TEXTURE_NAMES, texture_image

NEAR_M = 0.02
FAR_M = 30.0
FLOOR_CELLS = 24


def pybullet_intrinsics(width: int, height: int, fov_y: float) -> Intrinsics:
    """OpenCV-convention intrinsics of a TinyRenderer image (see module doc, trap 1). fov_y in rad."""
    f = height / (2.0 * np.tan(fov_y / 2.0))
    return Intrinsics(f, f, width / 2.0, height / 2.0 - 1.0, int(width), int(height))


@dataclass(frozen=True)
class Light:
    """TinyRenderer lighting: direction towards the light (world), ambient / diffuse / specular weights."""

    direction: tuple[float, float, float] = (0.4, 0.3, 1.0)
    ambient: float = 0.6
    diffuse: float = 0.35
    specular: float = 0.05


@dataclass(frozen=True)
class RenderedImage:
    """One rendered view.

    Attributes:
        rgb: (H, W, 3) uint8; background pixels (nothing hit) are TinyRenderer's clear colour.
        depth: (H, W) float32 z-depth in m of whatever was hit (object or floor); NaN where nothing.
        part_mask: (H, W) int16 part index of the object, -1 elsewhere (floor and background).
        link_mask: (H, W) int16 index of the object's link (``ArticulatedObject.links`` order), -1 elsewhere.
    """

    rgb: np.ndarray
    depth: np.ndarray
    part_mask: np.ndarray
    link_mask: np.ndarray


@dataclass
class LoadedObject:
    """An object loaded into the renderer."""

    obj: ArticulatedObject
    body: int
    joint_indices: tuple[int, ...]  # PyBullet joint index of each movable joint
    link_lookup: np.ndarray  # (num_pybullet_links + 1,) our link index for PyBullet link index + 1
    part_lookup: np.ndarray  # same, part index


class PyBulletRenderer:
    """Owns one PyBullet DIRECT client, a texture cache, the current object and the floor."""

    def __init__(self):
        import pybullet as pb

        self.pb = pb
        self.client = pb.connect(pb.DIRECT)
        pb.setPhysicsEngineParameter(enableFileCaching=0, physicsClientId=self.client)
        self.tmp = Path(tempfile.mkdtemp(prefix="sim2art_render_"))
        self._textures: dict[str, int] = {}
        self._loaded: LoadedObject | None = None
        self._floor: tuple[int, float] | None = None  # (body, half size)
        self.pid = os.getpid()
        atexit.register(self.close)

    # ---------------------------------------------------------------- resources
    def close(self) -> None:
        if os.getpid() != self.pid:
            return
        try:
            if self.pb.isConnected(self.client):
                self.pb.disconnect(self.client)
        except Exception:  # interpreter shutdown: pybullet may already be gone
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def texture(self, name: str) -> int:
        """PyBullet texture id of a bank texture name or an image path (loaded once per client)."""
        if name not in self._textures:
            if name in TEXTURE_NAMES:
                path = self.tmp / f"texture_{name}.png"
                cv2.imwrite(str(path), texture_image(name))
            else:
                path = Path(name)
                if not path.is_file():
                    raise FileNotFoundError(f"texture image not found: {path}")
            tid = self.pb.loadTexture(str(path), physicsClientId=self.client)
            if tid < 0:
                raise ValueError(f"PyBullet could not load texture {path}")
            self._textures[name] = tid
        return self._textures[name]

    # ------------------------------------------------------------------ objects
    def load(self, obj: ArticulatedObject) -> LoadedObject:
        """Load ``obj`` (replacing the previous object) with its root fixed at the world origin."""
        pb, c = self.pb, self.client
        if self._loaded is not None:
            pb.removeBody(self._loaded.body, physicsClientId=c)
            self._loaded = None
        path = obj.to_urdf(self.tmp / "urdf")
        flags = 0
        if any(v.shape == "mesh" and v.rgba is None for lk in obj.links for v in lk.visuals):
            flags |= pb.URDF_USE_MATERIAL_COLORS_FROM_MTL
        body = pb.loadURDF(str(path), useFixedBase=True, flags=flags, physicsClientId=c)
        path.unlink(missing_ok=True)
        if body < 0:
            raise ValueError(f"PyBullet failed to load the URDF of {obj.name}")
        n = pb.getNumJoints(body, physicsClientId=c)
        by_name = {}
        for j in range(n):
            info = pb.getJointInfo(body, j, physicsClientId=c)
            by_name[info[12].decode()] = (j, info[1].decode())
        link_lookup = np.full(n + 1, -1, dtype=np.int16)
        link_lookup[0] = 0
        for i, lk in enumerate(obj.links[1:], start=1):
            link_lookup[by_name[lk.name][0] + 1] = i
        if np.any(link_lookup < 0):
            raise ValueError(f"{obj.name}: PyBullet link table does not match the object's links")
        joint_indices = tuple(by_name[j.child][0] for j in obj.movable_joints)
        for lk in obj.links:
            if lk.texture and lk.visuals:
                idx = -1 if lk.name == obj.root else by_name[lk.name][0]
                pb.changeVisualShape(body, idx, textureUniqueId=self.texture(lk.texture), physicsClientId=c)
        self._loaded = LoadedObject(obj, body, joint_indices, link_lookup, obj.link_part[link_lookup])
        return self._loaded

    def set_floor(self, z: float | None, center_xy: tuple[float, float] = (0.0, 0.0), half_size: float = 1.0) -> None:
        """Show a textured square floor (top at height ``z``, centred at ``center_xy``); None hides it.

        The floor is a grid mesh (FLOOR_CELLS^2 quads, the texture repeating every 2 cells) rather than one
        big box: TinyRenderer interpolates texture coordinates affinely and drops triangles reaching
        behind the camera, both harmless on small triangles but glaring on a huge one.
        """
        pb, c = self.pb, self.client
        if z is None:
            if self._floor is not None:
                pb.removeBody(self._floor[0], physicsClientId=c)
                self._floor = None
            return
        half_size = float(2.0 ** (math.ceil(4 * math.log2(half_size)) / 4))  # a few distinct sizes -> reuse
        if self._floor is None or abs(self._floor[1] - half_size) > 1e-9:
            self.set_floor(None)
            k = FLOOR_CELLS
            xs = np.linspace(-1.0, 1.0, k + 1)
            gx, gy = np.meshgrid(xs, xs)
            verts = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], 1)
            uvs = np.stack([np.tile(np.arange(k + 1), k + 1), np.repeat(np.arange(k + 1), k + 1)], 1) / 2.0
            a = (np.arange(k)[None, :] + (k + 1) * np.arange(k)[:, None]).ravel()
            tris = np.stack([a, a + 1, a + k + 2, a, a + k + 2, a + k + 1], 1).ravel()
            vis = pb.createVisualShape(
                pb.GEOM_MESH, vertices=verts.tolist(), indices=tris.astype(int).tolist(), uvs=uvs.tolist(),
                normals=[[0.0, 0.0, 1.0]] * len(verts), meshScale=[half_size, half_size, 1.0],
                rgbaColor=[0.85, 0.82, 0.78, 1.0], physicsClientId=c,
            )  # fmt: skip
            body = pb.createMultiBody(0, -1, vis, physicsClientId=c)
            pb.changeVisualShape(body, -1, textureUniqueId=self.texture("floor"), physicsClientId=c)
            self._floor = (body, half_size)
        pb.resetBasePositionAndOrientation(self._floor[0], [center_xy[0], center_xy[1], z], [0, 0, 0, 1],
                                           physicsClientId=c)  # fmt: skip

    def render(self, loaded: LoadedObject, q: np.ndarray, world_from_cam: np.ndarray, intr: Intrinsics,
               light: Light = Light()) -> RenderedImage:  # fmt: skip
        """Render the object at joint positions ``q`` (J,) seen by a camera with pose ``world_from_cam``.

        ``intr`` must come from :func:`pybullet_intrinsics` (square pixels, PyBullet's principal point).
        """
        pb, c = self.pb, self.client
        if loaded is not self._loaded:
            raise ValueError("render() got an object that is no longer loaded")
        W, H = intr.width, intr.height
        for jidx, qj in zip(loaded.joint_indices, np.asarray(q, dtype=np.float64), strict=True):
            pb.resetJointState(loaded.body, jidx, float(qj), physicsClientId=c)
        # OpenCV optical frame (x right, y down, z forward) -> OpenGL camera (x right, y up, z back)
        gl_from_world = np.linalg.inv(np.asarray(world_from_cam, dtype=np.float64) @ np.diag([1.0, -1.0, -1.0, 1.0]))
        fov_y = np.degrees(2.0 * np.arctan(H / (2.0 * intr.fy)))
        proj = pb.computeProjectionMatrixFOV(fov_y, W / H, NEAR_M, FAR_M, physicsClientId=c)
        _, _, rgba, zbuf, seg = pb.getCameraImage(
            W, H, gl_from_world.T.reshape(-1).tolist(), proj, renderer=pb.ER_TINY_RENDERER,
            flags=pb.ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX, shadow=0,
            lightDirection=list(light.direction), lightAmbientCoeff=light.ambient,
            lightDiffuseCoeff=light.diffuse, lightSpecularCoeff=light.specular, physicsClientId=c,
        )  # fmt: skip
        seg = np.asarray(seg).reshape(H, W)
        zbuf = np.asarray(zbuf).reshape(H, W)
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(H, W, 4)[..., :3]  # a view; copied by who keeps it
        hit = seg >= 0
        depth = (FAR_M * NEAR_M / (FAR_M - (FAR_M - NEAR_M) * zbuf.astype(np.float64))).astype(np.float32)
        depth[~hit] = np.nan
        on_obj = (seg & 0xFFFFFF) == loaded.body  # background (-1) has all low bits set: never equal
        link_pb = np.where(on_obj, seg >> 24, 0)  # PyBullet link index + 1
        link_mask = np.where(on_obj, loaded.link_lookup[link_pb], np.int16(-1))
        part_mask = np.where(on_obj, loaded.part_lookup[link_pb], np.int16(-1))
        return RenderedImage(rgb, depth, part_mask, link_mask)


_RENDERER: PyBulletRenderer | None = None


def get_renderer() -> PyBulletRenderer:
    """The process's renderer (a new one after a fork: PyBullet clients do not survive fork)."""
    global _RENDERER
    if _RENDERER is None or _RENDERER.pid != os.getpid():
        _RENDERER = PyBulletRenderer()
    return _RENDERER
