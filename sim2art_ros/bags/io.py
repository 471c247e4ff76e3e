"""rosbag2 access shared by the bag writer, the replay tool and the evaluation.

Everything goes through the ``rosbags`` library (pure Python; no rosbag2_py or
ros2 CLI here). This module adds what the tools need on top of it:

* :func:`open_bag`: open a rosbag2 directory (mcap or sqlite3) or a bare
  ``.mcap``/``.db3`` file, turning every failure into a :class:`BagError` that
  names the bag and the problem.
* :func:`check_bag`: read every record once and compare the counts with the
  metadata, because a damaged mcap chunk can end the stream early without any
  exception from rosbags (measured: a 400-byte overwrite gave 15 of 40 messages).
* :func:`project_typestore`: the kilted typestore plus our ``msg/*.msg`` types, so
  written bags carry their definitions and RIHS01 hashes.
* :func:`message_class`: the rclpy class of a type name via importlib
  (rosidl_runtime_py, which does this upstream, is not available from PyPI).
"""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rosbags.highlevel import AnyReader
from rosbags.interfaces import Connection
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

#: Interface package of our messages (the generated module is ``sim2art_ros.msg``).
PROJECT_PACKAGE = "sim2art_ros"
PROJECT_MESSAGES = ("ArticulatedPart", "ArticulationJoint", "Articulation")
ARTICULATION_TYPE = f"{PROJECT_PACKAGE}/msg/Articulation"
STORAGE_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}


class BagError(RuntimeError):
    """A bag cannot be used; the message names the bag and the problem."""


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag: ``count`` messages of ``msgtype`` (all connections merged)."""

    name: str
    msgtype: str
    count: int


def msg_dir() -> Path:
    """Directory with our ``*.msg`` files: the checkout, then an installed share directory."""
    here = Path(__file__).resolve().parent
    candidates = [here.parent / "msg", Path(sys.prefix) / "share" / PROJECT_PACKAGE / "msg"]
    try:  # a colcon install of the package
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PROJECT_PACKAGE)) / "msg")
    except Exception:
        pass
    for c in candidates:
        if all((c / f"{name}.msg").is_file() for name in PROJECT_MESSAGES):
            return c
    raise FileNotFoundError(f"{PROJECT_PACKAGE} message definitions not found in {[str(c) for c in candidates]}")


@lru_cache(maxsize=1)
def project_typestore() -> Typestore:
    """The ROS 2 kilted typestore with our messages registered (definitions and RIHS01 hashes)."""
    store = get_typestore(Stores.ROS2_KILTED)
    folder = msg_dir()
    types = {}
    for name in PROJECT_MESSAGES:
        types.update(get_types_from_msg((folder / f"{name}.msg").read_text(), f"{PROJECT_PACKAGE}/msg/{name}"))
    store.register(types)
    return store


def message_class(msgtype: str) -> type:
    """The rclpy message class of ``pkg/msg/Name`` (or ``pkg/Name``); BagError if not importable."""
    parts = msgtype.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or not all(parts):
        raise BagError(f"malformed message type name {msgtype!r} (expected 'package/msg/Name')")
    pkg, kind, name = parts
    try:
        return getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ImportError, AttributeError) as exc:
        raise BagError(f"message type {msgtype!r} is not available in this ROS environment ({exc})") from None


def resolve_bag_path(path: str | Path) -> Path:
    """The path to hand to rosbags: a rosbag2 directory, or the single storage file of a directory
    without metadata.yaml, or a bare ``.mcap``/``.db3`` file."""
    p = Path(path)
    if not p.exists():
        raise BagError(f"bag {str(p)!r} does not exist")
    if p.is_file():
        if p.suffix == ".bag":
            raise BagError(f"{p}: ROS 1 bag; convert it first (rosbags-convert --src {p} --dst <rosbag2 dir>)")
        if p.suffix not in STORAGE_SUFFIXES:
            raise BagError(f"{p}: not a rosbag2 storage file (expected .mcap or .db3, or a bag directory)")
        return p
    if (p / "metadata.yaml").is_file():
        return p
    files = [f for f in sorted(p.iterdir()) if f.suffix in STORAGE_SUFFIXES]
    if len(files) == 1:
        return files[0]
    if not files:
        raise BagError(f"{p}: no metadata.yaml and no .mcap/.db3 file: not a rosbag2 bag")
    raise BagError(f"{p}: no metadata.yaml and several storage files {[f.name for f in files]}; cannot tell the order")


def find_bags(path: str | Path) -> list[Path]:
    """``path`` itself if it is a bag, else every bag directly inside it (sorted); BagError when none."""
    p = Path(path)
    if not p.exists():
        raise BagError(f"bag {str(p)!r} does not exist")
    if p.is_file() or (p / "metadata.yaml").is_file():
        return [p]
    bags = [c for c in sorted(p.iterdir()) if (c / "metadata.yaml").is_file() or c.suffix in STORAGE_SUFFIXES]
    if not bags:
        # a directory holding only a storage file (no metadata) is still one bag
        return [p]
    return bags


@contextmanager
def open_bag(path: str | Path) -> Iterator[AnyReader]:
    """Open a rosbag2 bag for reading; errors become :class:`BagError` naming the bag.

    Types are taken from the definitions stored in the bag; bags without stored
    definitions fall back to the kilted types plus ours.
    """
    p = resolve_bag_path(path)
    try:
        reader = AnyReader([p], default_typestore=project_typestore())
        reader.open()
    except BagError:
        raise
    except Exception as exc:  # rosbags, apsw and the mcap parser raise many types
        raise BagError(f"cannot open bag {p}: {_describe(exc)}") from exc
    try:
        yield reader
    finally:
        try:
            reader.close()
        except Exception:
            pass


def iter_raw(reader: AnyReader, connections: list[Connection] | None = None, bag: str | Path = "") -> Iterator:
    """``reader.messages(...)`` with read errors turned into BagError (a truncated or corrupt storage file)."""
    gen = reader.messages(connections=connections or ())
    while True:
        try:
            item = next(gen)
        except StopIteration:
            return
        except Exception as exc:
            raise BagError(f"bag {bag or reader.paths[0]} is corrupt or truncated: {_describe(exc)}") from exc
        yield item


def summarize(reader: AnyReader) -> list[TopicSummary]:
    """Topics with their type and declared message count, in name order."""
    out = []
    for name, info in sorted(reader.topics.items()):
        out.append(TopicSummary(name, info.msgtype or "(several types)", int(info.msgcount)))
    return out


def check_bag(path: str | Path) -> list[TopicSummary]:
    """Read every record of a bag (no deserialisation) and check it against its metadata.

    Raises BagError when a record cannot be read or when fewer/more messages are
    stored than the metadata declares (per topic). Returns the topic summary.
    """
    with open_bag(path) as reader:
        declared = {c.id: c.msgcount for c in reader.connections}
        counts: Counter[int] = Counter()
        for conn, _, _ in iter_raw(reader, bag=path):
            counts[conn.id] += 1
        bad = [
            f"{c.topic}: metadata declares {declared[c.id]}, storage holds {counts[c.id]}"
            for c in reader.connections
            if declared[c.id] and counts[c.id] != declared[c.id]
        ]
        if bad:
            raise BagError(f"bag {path} is corrupt or truncated: " + "; ".join(bad))
        return summarize(reader)


def stamp_ns(t_or_header) -> int:
    """Nanoseconds of a builtin_interfaces/Time (rclpy or rosbags) or of a Header's stamp."""
    t = getattr(t_or_header, "stamp", t_or_header)
    return int(t.sec) * 1_000_000_000 + int(t.nanosec)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(a) for a in exc.args) if exc.args else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def header_stamp_ns(raw: bytes | memoryview) -> int:
    """Stamp of a serialized message that starts with a std_msgs/Header (Image, CameraInfo, Articulation, ...).

    Reads the 8 bytes after the 4-byte CDR encapsulation header (int32 sec, uint32
    nanosec) instead of deserialising a whole image just for its stamp. Written by
    hand because neither rosbags nor rclpy offers a partial decode.
    """
    import struct

    b = bytes(raw[:12])
    if len(b) < 12 or b[0] != 0:
        raise ValueError("not a CDR message with a header")
    endian = "<" if b[1] & 1 else ">"  # representation id 0x0001 = CDR little-endian, 0x0000 = big-endian
    sec, nanosec = struct.unpack(endian + "iI", b[4:12])
    return sec * 1_000_000_000 + nanosec
