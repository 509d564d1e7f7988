"""The size a classic NetCDF file (CDF-1, CDF-2, CDF-5) must have, from its header.

The netCDF C library opens a classic file cut short and reads the missing part as fill values
(then NaN), so a truncated download runs with gaps that the gap policy fills in silently. The
header states where every variable's data begin and how long they are; a file shorter than the
end of its last variable is truncated. The layout is that of the NetCDF classic format
specification (Unidata, "The NetCDF Classic Format", NetCDF User's Guide, appendix "File
Format Specifications"): magic ``CDF`` and a version byte, the number of records, then the
dimension, global attribute and variable lists; a variable gives its dimension ids, its
attributes, its type, ``vsize`` (bytes of one record, or of all its data, padded to 4) and
``begin`` (file offset of its data).
"""

from __future__ import annotations

import os
import struct
from typing import Any

#: bytes of each external type (nc_type 1..11)
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}
_STREAMING = 0xFFFFFFFF


class _Reader:
    def __init__(self, data: bytes, version: int) -> None:
        self.data, self.pos = data, 4
        self.wide = version == 5                # CDF-5: 64-bit counts and lengths
        self.offset64 = version in (2, 5)       # CDF-2 and CDF-5: 64-bit offsets

    def _take(self, fmt: str) -> int:
        n = struct.calcsize(fmt)
        if self.pos + n > len(self.data):
            raise EOFError
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += n
        return int(v)

    def int32(self) -> int:
        return self._take(">i")

    def count(self) -> int:
        return self._take(">Q") if self.wide else self._take(">I")

    def offset(self) -> int:
        return self._take(">Q") if self.offset64 else self._take(">I")

    def skip(self, n: int) -> None:
        n += (-n) % 4                            # values are padded to 4 bytes
        if self.pos + n > len(self.data):
            raise EOFError
        self.pos += n

    def name(self) -> None:
        self.skip(self.count())

    def attributes(self) -> None:
        tag, n = self.int32(), self.count()
        if tag == 0:
            return
        for _ in range(n):
            self.name()
            nc_type = self.int32()
            self.skip(self.count() * _TYPE_SIZE.get(nc_type, 1))


def expected_size(path: Any, head: int = 1 << 20) -> tuple[int, int] | None:
    """(bytes the header says the file holds, bytes it holds) of a classic NetCDF file;
    None for a file that is not classic NetCDF (e.g. NetCDF4/HDF5) or whose header does not
    fit in the first ``head`` bytes (then the netCDF library's own checks apply)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        data = f.read(head)
    if len(data) < 8 or data[:3] != b"CDF" or data[3] not in (1, 2, 5):
        return None
    r = _Reader(data, data[3])
    try:
        numrecs = r.count()
        tag, ndims = r.int32(), r.count()
        lengths = []
        for _ in range(ndims if tag else 0):
            r.name()
            lengths.append(r.count())
        r.attributes()
        tag, nvars = r.int32(), r.count()
        record: list[tuple[int, int]] = []
        end = r.pos
        for _ in range(nvars if tag else 0):
            r.name()
            dimids = [r.count() for _ in range(r.count())]
            r.attributes()
            r.int32()                            # nc_type
            vsize, begin = r.count(), r.offset()
            if dimids and dimids[0] < len(lengths) and lengths[dimids[0]] == 0:
                record.append((begin, vsize))    # a record variable: vsize per record
            else:
                end = max(end, begin + vsize)
    except EOFError:
        return None
    if record and numrecs not in (0, _STREAMING):
        recsize = sum(v for _, v in record) if len(record) > 1 else record[0][1]
        for begin, vsize in record:
            end = max(end, begin + (numrecs - 1) * recsize + vsize)
    return end, size


def truncated(path: Any) -> str | None:
    """Why a classic NetCDF file is cut short, or None when it is whole (or not classic)."""
    got = expected_size(path)
    if got is None:
        return None
    end, size = got
    if size < end - 3:                           # the last value's padding to 4 bytes is optional
        return (f"it holds {size} bytes but its header places data up to byte {end}: the file "
                "is truncated")
    return None


__all__ = ["expected_size", "truncated"]
