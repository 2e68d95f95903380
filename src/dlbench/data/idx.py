"""Read IDX files (MNIST, Fashion-MNIST), gzipped or plain, checking header, type and length.

IDX: two zero bytes, a type byte (0x08 = uint8), the number of dimensions, one big-endian
uint32 per dimension, then the data in C order. Images are 3-D (N, rows, cols), labels 1-D.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from dlbench.errors import UserError

GZIP_MAGIC = b"\x1f\x8b"
UINT8_TYPE = 0x08
HEADER_MAX = 4 + 4 * 255


def _raw_bytes(path: Path, want: int | None, where: str) -> tuple[bytes, bool, bool]:
    """The file's IDX bytes (decompressed), at most `want` of them when given; whether the
    stream ended (False: the gzip data stopped before its end marker); whether it was gzip."""
    header_only = want is not None and want <= HEADER_MAX
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head != GZIP_MAGIC:
            # Plain IDX, or a .gz a browser already unpacked while keeping the name.
            data = f.read() if want is None else f.read(want)
            return data, True, False
        # A header needs only the first block of the compressed stream.
        compressed = f.read(1 << 16) if header_only else f.read()
    inflater = zlib.decompressobj(wbits=31)  # 31: expect a gzip header and trailer
    try:
        data = (
            inflater.decompress(compressed)
            if want is None
            else inflater.decompress(compressed, want)
        )
    except zlib.error as exc:
        raise UserError(f"{where} is corrupt (gzip: {exc})") from exc
    return data, inflater.eof or (want is not None and len(data) >= want), True


def read_idx(
    path: Path,
    *,
    ndim: int,
    limit: int | None = None,
    dataset: str,
    repair: str,
) -> np.ndarray:
    """The array in an IDX file (only its first `limit` items when given), as uint8.

    `dataset` and `repair` make the error messages: a damaged file raises a UserError naming it
    and how to replace it.
    """
    where = f"{dataset}: {path.name}"
    header_len = 4 + 4 * ndim
    head, _, _ = _raw_bytes(path, HEADER_MAX, where)
    head = head[:header_len]
    if not head:
        raise UserError(f"{where} is empty; {repair}")
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise UserError(f"{where} is not an IDX file (bad magic number {head[:4].hex()}); {repair}")
    if head[2] != UINT8_TYPE or head[3] != ndim:
        raise UserError(
            f"{where} has IDX type 0x{head[2]:02x} with {head[3]} dimensions, expected uint8 (0x08) "
            f"with {ndim}: is it the right file?; {repair}"
        )
    if len(head) < header_len:
        raise UserError(
            f"{where} is truncated (got {len(head)} of {header_len} header bytes); {repair}"
        )
    dims = [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    item = int(np.prod(dims[1:], dtype=np.int64))
    total = header_len + dims[0] * item
    count = dims[0] if limit is None else min(limit, dims[0])
    want = None if limit is None else header_len + count * item

    data, ended, gzipped = _raw_bytes(path, want, where)
    expected = total if want is None else want
    if len(data) < expected or not ended:
        unit = "bytes after decompressing" if gzipped else "bytes"
        raise UserError(f"{where} is truncated (got {len(data)} of {total} {unit}); {repair}")
    if want is None and len(data) > total:
        raise UserError(
            f"{where} has {len(data) - total} bytes more than its header promises; {repair}"
        )
    # A copy, so that the arrays handed out are writable and own their memory.
    return (
        np.frombuffer(data, dtype=np.uint8, count=count * item, offset=header_len)
        .reshape(count, *dims[1:])
        .copy()
    )
