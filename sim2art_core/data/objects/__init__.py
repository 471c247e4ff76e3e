"""Articulated objects: procedural generators for the 14 paper categories, the broader furniture families
(furniture.py: Kitchen, Cupboard, Appliance) and an external-URDF loader.

    >>> obj = generate_object("Storage3", seed=7)       # frozen ArticulatedObject
    >>> path = obj.to_urdf("/tmp/objs")                  # unique file name per content
    >>> same = load_urdf_object(path)                    # any URDF with primitives or meshes

Per-category structure and sampling ranges are documented in the generator modules
(storage.py, tables.py, lidded.py, handheld.py, fan.py, furniture.py) and in docs/DATA.md.
"""

from __future__ import annotations

from collections.abc import Callable

from sim2art_core.data.objects.fan import fan
from sim2art_core.data.objects.furniture import FURNITURE_GENERATORS
from sim2art_core.data.objects.handheld import eyeglasses, scissors
from sim2art_core.data.objects.lidded import box, laptop, stapler
from sim2art_core.data.objects.model import ArticulatedObject, Joint, Link, Part, Visual
from sim2art_core.data.objects.storage import storage1, storage2, storage3, storage4, storage5, storage6
from sim2art_core.data.objects.tables import table1, table2
from sim2art_core.data.objects.urdf import load_urdf_object
from sim2art_core.data.sequence import ALL_CATEGORIES, CATEGORIES

#: category name -> generator(seed) (a small registry; every name of ``ALL_CATEGORIES`` is present: the
#: paper's 14, then the broader families of furniture.py).
GENERATORS: dict[str, Callable[[int], ArticulatedObject]] = {
    "Storage1": storage1,
    "Storage2": storage2,
    "Storage3": storage3,
    "Storage4": storage4,
    "Storage5": storage5,
    "Storage6": storage6,
    "Box": box,
    "Eyeglasses": eyeglasses,
    "Laptop": laptop,
    "Stapler": stapler,
    "Table1": table1,
    "Table2": table2,
    "Fan": fan,
    "Scissors": scissors,
    **FURNITURE_GENERATORS,
}
assert tuple(GENERATORS) == ALL_CATEGORIES and tuple(GENERATORS)[: len(CATEGORIES)] == CATEGORIES


def generate_object(category: str, seed: int) -> ArticulatedObject:
    """The procedural instance ``seed`` (>= 0) of ``category`` (deterministic)."""
    try:
        gen = GENERATORS[category]
    except KeyError:
        raise ValueError(f"unknown category {category!r}; known: {', '.join(ALL_CATEGORIES)}") from None
    return gen(int(seed))


__all__ = [
    "GENERATORS", "ArticulatedObject", "Joint", "Link", "Part", "Visual", "generate_object", "load_urdf_object",
]  # fmt: skip
