"""SequenceConfig.surfaces: plain-coloured objects for the optical-flow benchmarks; the default is unchanged."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from sim2art_core.data.generator import SequenceConfig, generate_sequence
from sim2art_core.data.objects import generate_object
from sim2art_core.data.surfaces import LACQUER_COLOURS, SURFACES, apply_surfaces, dominant_colour

CFG = SequenceConfig(num_frames=3, num_points=128, width=64, height=48)


def _digest(sample, frames) -> str:
    h = hashlib.sha256()
    for k, v in sorted(sample.to_arrays().items()):
        h.update(k.encode())
        h.update(np.ascontiguousarray(v).tobytes() if isinstance(v, np.ndarray) else str(v).encode())
    for f in frames:
        h.update(f.rgb.tobytes())
        h.update(f.depth.tobytes())
    return h.hexdigest()[:16]


# Digests of samples and frames written by the data engine BEFORE the surfaces option existed (commit
# f07cfa1, this venv's PyBullet 3.2.7 TinyRenderer): the default must stay bit-identical, so the existing
# datasets, the test split and every benchmark keep their bytes.
@pytest.mark.parametrize(("category", "obj", "seq", "digest"),
                         [("Storage3", 1, 2, "1a3e34c1b842f82b"), ("Laptop", 4, 5, "97c870b3f825a52a")])  # fmt: skip
def test_default_surfaces_are_bit_identical_to_before(category, obj, seq, digest):
    assert SequenceConfig().surfaces == "textured"
    sample, frames = generate_sequence(category, obj, seq, CFG, return_frames=True)
    assert _digest(sample, frames) == digest


def test_plain_and_lacquer_change_only_the_colours():
    ref, ref_frames = generate_sequence("Storage3", 1, 2, CFG, return_frames=True)
    for surfaces in ("plain", "lacquer"):
        from dataclasses import replace

        s, frames = generate_sequence("Storage3", 1, 2, replace(CFG, surfaces=surfaces), return_frames=True)
        # same geometry, camera, motion and sampled pixels: everything but the colours
        for k in ("points", "flow", "labels", "pixels", "part_axes", "part_pivots", "part_amounts", "world_from_cam"):
            np.testing.assert_array_equal(getattr(s, k), getattr(ref, k), err_msg=f"{surfaces}: {k}")
        np.testing.assert_array_equal(frames[0].depth, ref_frames[0].depth)
        assert not np.array_equal(s.colors, ref.colors)


def test_plain_removes_textures_and_keeps_colours():
    obj = generate_object("Storage1", 3)
    assert any(lk.texture for lk in obj.links)
    plain = apply_surfaces(obj, "plain", 0)
    assert all(lk.texture is None for lk in plain.links)
    assert [v.rgba for lk in plain.links for v in lk.visuals] == [v.rgba for lk in obj.links for v in lk.visuals]
    assert apply_surfaces(obj, "textured", 0) is obj


def test_lacquer_paints_the_dominant_colour_and_keeps_handles():
    obj = generate_object("Storage3", 1)
    lac = apply_surfaces(obj, "lacquer", 7)
    paints = set()
    kept = 0
    for a, b in zip(obj.links, lac.links, strict=True):
        dom = dominant_colour(a)
        for va, vb in zip(a.visuals, b.visuals, strict=True):
            if va.rgba == dom:
                paints.add(vb.rgba)
            else:
                assert vb.rgba == va.rgba  # handles, knobs: unchanged
                kept += 1
    assert kept > 0, "the handles keep their colour"
    assert len(paints) == 1, "one lacquer for the whole object"
    rgb = np.array(next(iter(paints))[:3])
    assert np.min(np.abs(np.array(LACQUER_COLOURS) - rgb).max(axis=1)) <= 0.03 * 0.96  # a lacquer paint, ±3 %
    # per sequence, deterministic
    assert apply_surfaces(obj, "lacquer", 7) == lac
    assert any(apply_surfaces(obj, "lacquer", s).links[0].visuals[0].rgba != lac.links[0].visuals[0].rgba
               for s in range(8, 20))  # fmt: skip


def test_rendered_lacquer_front_is_uniform():
    cfg = SequenceConfig(num_frames=1, num_points=64, width=160, height=120)
    from dataclasses import replace

    _, tex = generate_sequence("Storage1", 2, 3, cfg, return_frames=True)
    _, lac = generate_sequence("Storage1", 2, 3, replace(cfg, surfaces="lacquer"), return_frames=True)
    # local image detail on the object: median absolute Laplacian of the grey image inside the (eroded) mask
    import cv2

    def detail(f):
        grey = cv2.cvtColor(f.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        inner = cv2.erode(f.mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        return float(np.median(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[inner]))

    assert detail(lac[0]) < 0.25 * detail(tex[0])


def test_bad_surfaces_value():
    with pytest.raises(ValueError, match="surfaces"):
        SequenceConfig(surfaces="glossy")
    with pytest.raises(ValueError, match="surfaces"):
        apply_surfaces(generate_object("Box", 1), "glossy", 0)
    assert SURFACES == ("textured", "plain", "lacquer")


def test_config_round_trip_keeps_surfaces_and_reads_old_indexes():
    from dataclasses import replace

    cfg = replace(CFG, surfaces="lacquer")
    assert SequenceConfig.from_dict(cfg.to_dict()) == cfg
    old = CFG.to_dict()
    del old["surfaces"]  # an index written before the option
    assert SequenceConfig.from_dict(old).surfaces == "textured"
