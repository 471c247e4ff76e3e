"""Shard files: many encoded records (records.py) in one file with a checksummed table.

Layout (little endian)::

    b"S2ASHRD\\0"                      8 bytes magic
    u32 format version (SHARD_VERSION)
    u32 n = number of records
    n x (u64 offset, u64 length, u32 crc32 of the record bytes)
    u32 crc32 of the table above
    record 0 | record 1 | ... | record n-1  (contiguous; the file ends with the last record)

Every inconsistency (bad magic, truncated file, table or record checksum mismatch, undecodable
record) raises :class:`DatasetCorruptError` naming the file (and the record), never something
obscure later in training.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from sim2art_core.data.records import RecordError, decode_sample
from sim2art_core.data.sequence import SequenceSample

SHARD_MAGIC = b"S2ASHRD\0"
SHARD_VERSION = 1
_HEAD = struct.Struct("<8sII")
_ENTRY = struct.Struct("<QQI")
_CRC = struct.Struct("<I")


class DatasetCorruptError(RuntimeError):
    """A dataset file is missing, truncated or corrupt; the message names the file (and record)."""


def shard_bytes(records: list[bytes]) -> bytes:
    """The bytes of a shard holding ``records`` in order."""
    start = _HEAD.size + _ENTRY.size * len(records) + _CRC.size
    table, offset = [], start
    for r in records:
        table.append(_ENTRY.pack(offset, len(r), zlib.crc32(r)))
        offset += len(r)
    table_bytes = b"".join(table)
    head = _HEAD.pack(SHARD_MAGIC, SHARD_VERSION, len(records))
    return head + table_bytes + _CRC.pack(zlib.crc32(table_bytes)) + b"".join(records)


def write_shard(path: Path, records: list[bytes]) -> int:
    """Write a shard atomically (temporary file + rename); returns its size in bytes."""
    data = shard_bytes(records)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return len(data)


class ShardFile:
    """Random access to the records of one shard (opened lazily, one handle per process)."""

    def __init__(self, path: Path, expected_records: int | None = None, expected_bytes: int | None = None):
        self.path = Path(path)
        self.expected_records = expected_records
        self.expected_bytes = expected_bytes
        self._fh = None
        self._table: list[tuple[int, int, int]] | None = None

    def __getstate__(self):  # open file handles do not travel to DataLoader workers
        state = dict(self.__dict__)
        state["_fh"] = None
        return state

    def _error(self, what: str) -> DatasetCorruptError:
        return DatasetCorruptError(f"{self.path}: {what}")

    def check_size(self) -> None:
        """Cheap check that the file exists with the size the index recorded."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            raise self._error("shard file is missing") from None
        if self.expected_bytes is not None and size != self.expected_bytes:
            raise self._error(f"shard has {size} bytes, the index says {self.expected_bytes} (truncated or replaced)")

    def _open(self) -> None:
        if self._fh is not None:
            return
        self.check_size()
        fh = open(self.path, "rb")  # kept open for random access
        try:
            head = fh.read(_HEAD.size)
            if len(head) != _HEAD.size:
                raise self._error("shard header is truncated")
            magic, version, n = _HEAD.unpack(head)
            if magic != SHARD_MAGIC:
                raise self._error("not a sim2art shard (bad magic bytes)")
            if version != SHARD_VERSION:
                raise self._error(f"shard format version {version}, this reader needs {SHARD_VERSION}")
            if self.expected_records is not None and n != self.expected_records:
                raise self._error(f"shard holds {n} records, the index says {self.expected_records}")
            table_bytes = fh.read(_ENTRY.size * n)
            crc = fh.read(_CRC.size)
            if len(table_bytes) != _ENTRY.size * n or len(crc) != _CRC.size:
                raise self._error("shard record table is truncated")
            if _CRC.unpack(crc)[0] != zlib.crc32(table_bytes):
                raise self._error("shard record table fails its checksum")
            table = [_ENTRY.unpack_from(table_bytes, i * _ENTRY.size) for i in range(n)]
            expect = _HEAD.size + len(table_bytes) + _CRC.size
            for i, (off, length, _) in enumerate(table):
                if off != expect:
                    raise self._error(f"record {i} does not start where the previous one ends")
                expect = off + length
            size = os.fstat(fh.fileno()).st_size
            if expect != size:
                raise self._error(f"shard should have {expect} bytes but has {size} (truncated or padded)")
        except BaseException:
            fh.close()
            raise
        self._fh, self._table = fh, table

    def __len__(self) -> int:
        self._open()
        return len(self._table)

    def read_record(self, i: int) -> bytes:
        self._open()
        off, length, crc = self._table[i]
        self._fh.seek(off)
        data = self._fh.read(length)
        if len(data) != length:
            raise self._error(f"record {i} is truncated")
        if zlib.crc32(data) != crc:
            raise self._error(f"record {i} fails its checksum (file corrupt)")
        return data

    def read_sample(self, i: int) -> SequenceSample:
        data = self.read_record(i)
        try:
            return decode_sample(data)
        except RecordError as e:
            raise self._error(f"record {i}: {e}") from e

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
