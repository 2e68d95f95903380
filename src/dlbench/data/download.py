"""Fetch a built-in dataset into the user cache: short timeouts, SHA-256 checked, atomic.

A file is written to a temporary name beside its destination and renamed only after its size
and SHA-256 matched, so a cache never holds half a file, and two processes fetching at once
cannot corrupt each other's copy. Archives (CIFAR-10) are unpacked member by member, taking
only the names we expect: nothing from an archive is ever unpickled or executed.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from dlbench.data.catalog import BuiltIn, Remote
from dlbench.data.locations import cache_dir, where_to_put
from dlbench.errors import UserError

CONNECT_TIMEOUT_S = 20.0  # also the longest a read may stall: a dead mirror fails fast
TOTAL_TIMEOUT_S = 3600.0  # a trickling mirror gives up after an hour
CHUNK_BYTES = 1 << 20


class DownloadError(Exception):
    """One download failed; the message says why in a few words."""


def fetch(remote: Remote, dest: Path, *, timeout_s: float = CONNECT_TIMEOUT_S) -> Path:
    """Download `remote` to `dest`, trying its mirrors in order; raises DownloadError."""
    errors = []
    for url in remote.urls:
        try:
            _fetch_one(url, dest, remote.size_bytes, remote.sha256, timeout_s)
            return dest
        except DownloadError as exc:
            errors.append(f"{url}: {exc}")
    raise DownloadError("; ".join(errors))


def _fetch_one(url: str, dest: Path, size_bytes: int, sha256: str, timeout_s: float) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        print(f"downloading {url} ({size_bytes / 1e6:.1f} MB) to {dest.parent}", file=sys.stderr)
        digest = hashlib.sha256()
        got = 0
        deadline = time.monotonic() + TOTAL_TIMEOUT_S
        request = urllib.request.Request(url, headers={"User-Agent": "dlbench"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout_s) as r:
            while chunk := r.read(CHUNK_BYTES):
                got += len(chunk)
                if got > size_bytes:
                    raise DownloadError(f"sent more than the expected {size_bytes} bytes")
                if time.monotonic() > deadline:
                    raise DownloadError(f"took longer than {TOTAL_TIMEOUT_S:.0f} s")
                digest.update(chunk)
                out.write(chunk)
        if got != size_bytes:
            raise DownloadError(f"got {got} of {size_bytes} bytes")
        if digest.hexdigest() != sha256:
            raise DownloadError(f"SHA-256 is {digest.hexdigest()}, expected {sha256}")
        os.replace(tmp, dest)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(str(exc.reason)) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise DownloadError(
            f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


def extract_members(archive: Path, members: tuple[str, ...], dest_dir: Path) -> None:
    """Copy the named regular files out of a .tar.gz into `dest_dir`, flat, each atomically."""
    wanted = set(members)
    with tarfile.open(archive, "r:gz") as tar:
        for info in tar:
            if info.name not in wanted or not info.isfile():
                continue
            src = tar.extractfile(info)
            if src is None:
                continue
            target = dest_dir / Path(info.name).name
            fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{target.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    while chunk := src.read(CHUNK_BYTES):
                        out.write(chunk)
                os.replace(tmp_name, target)
            finally:
                Path(tmp_name).unlink(missing_ok=True)
            wanted.discard(info.name)
    if wanted:
        raise DownloadError(f"{archive.name} lacks {', '.join(sorted(wanted))}")


def download_builtin(b: BuiltIn) -> Path:
    """Fetch every file of `b` into its cache folder; a failure is a UserError saying what to do."""
    dest_dir = cache_dir(b.name)
    try:
        for remote in b.remotes:
            dest = dest_dir / remote.filename
            if dest.is_file() and not b.archive_members:
                continue  # an earlier, interrupted run already fetched and checked it
            fetch(remote, dest)
            if b.archive_members:
                extract_members(dest, b.archive_members, dest_dir)
                dest.unlink()
    except (DownloadError, OSError, tarfile.TarError) as exc:
        raise UserError(
            f"{b.name}: not found locally and the download failed ({exc}); {where_to_put(b)}"
        ) from exc
    return dest_dir
