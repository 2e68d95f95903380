"""Decoded built-in datasets, cached once per machine as uint8 `.npy` files, memory-mapped.

Decoding Fashion-MNIST's gzip files costs about a second; every `dlbench run` used to pay it
twice per run (the parent's check of the plan, then the run's own load). The first full decode
of a dataset's files is written here, and every later load, in any process, maps it instead.

Layout: `<root>/<dataset>-<key>/` holding `x_train.npy`, `y_train.npy`, `x_test.npy`,
`y_test.npy` (all uint8) and `manifest.json` (the source files' names, sizes, modification
times and SHA-256, the arrays' shapes). `<key>` is the SHA-256 of the format version, the
dataset's name and each source file's SHA-256, so a changed or corrupt source file has another
key: it is decoded (and so checked) again, never answered from the cache. `<root>` is
`$DLBENCH_DECODED_CACHE`, else `$XDG_CACHE_HOME/dlbench/decoded` (`~/.cache/dlbench/decoded`);
`DLBENCH_DECODED_CACHE=off` turns the cache off. Deleting the folder is always safe.

The trade-off: hashing the sources (30 MB of gzip for Fashion-MNIST, about 0.1 s) on every
load would cost more than the load itself, so a manifest also keeps each source file's
`stat` (path, size, mtime_ns, ctime_ns, inode) as seen when it was hashed, and a load whose
sources stat the same skips the hashing. Writing a file changes its ctime, which no tool can
set back, so only a change the filesystem does not see (bit rot under an unchanged inode)
would be missed. An entry is checked structurally on every load (manifest, `.npy` headers,
shapes, file sizes; the small label files by their SHA-256); a bad one is deleted and decoded
again. An entry is written in a temporary folder beside it and renamed into place, so a crash
or a full disk leaves no half entry, and two processes writing at once keep one whole copy.
`np.load(allow_pickle=False)`: nothing here is ever unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlbench.data.locations import cache_dir

CACHE_ENV = "DLBENCH_DECODED_CACHE"  # a folder for the cache, or "off" to turn it off
FORMAT = 1  # bump when the layout or the decoders' output changes: old entries are not read
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
LABELS = ("y_train", "y_test")  # small: checked by hash on every load
MANIFEST = "manifest.json"
SEEN_MAX = 8  # stat sets a manifest remembers (one per place the same files were read from)
STALE_TMP_S = 3600.0  # a temporary folder this old was left by a process that died
HASH_CHUNK = 1 << 20

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test
Decode = Callable[[int | None, int | None], Arrays]  # (limit_train, limit_test) -> arrays


def root() -> Path | None:
    """The cache folder, or None when the cache is off."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env.lower() in ("off", "0", "false", "no"):
        return None
    return Path(env).expanduser() if env else cache_dir("decoded")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stat(path: Path) -> dict[str, Any]:
    st = os.stat(path)  # follows a symlink: the file's own identity counts
    return {
        "path": str(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "ino": st.st_ino,
    }


def key_of(name: str, hashes: Sequence[str]) -> str:
    """The entry's key: the format, the dataset's name and its source files' SHA-256, in order."""
    return hashlib.sha256(f"{FORMAT}\n{name}\n{chr(10).join(hashes)}".encode()).hexdigest()


def _entries(base: Path, name: str) -> list[Path]:
    # Temporary folders start with a dot and never match.
    return sorted(p for p in base.glob(f"{name}-*") if p.is_dir())


def _read_manifest(entry: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _open(entry: Path, name: str, manifest: dict[str, Any]) -> Arrays | None:
    """The entry's arrays, mapped copy-on-write (a caller's writes never reach the file), or
    None when anything about it is off."""
    try:
        if manifest.get("format") != FORMAT or manifest.get("dataset") != name:
            return None
        if entry.name != f"{name}-{manifest.get('key')}":
            return None
        out = []
        for a in ARRAYS:
            meta = manifest["arrays"][a]
            path = entry / f"{a}.npy"
            if path.stat().st_size != meta["bytes"]:
                return None
            if a in LABELS and file_sha256(path) != meta["sha256"]:
                return None
            arr = np.load(path, mmap_mode="c", allow_pickle=False)
            if arr.dtype != np.uint8 or list(arr.shape) != meta["shape"]:
                return None
            out.append(np.asarray(arr))  # a plain ndarray over the map, not an np.memmap
    except (OSError, ValueError, KeyError, TypeError):
        return None
    x_train, y_train, x_test, y_test = out
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        return None
    return x_train, y_train, x_test, y_test


def _discard(entry: Path) -> None:
    shutil.rmtree(entry, ignore_errors=True)


def _remember(entry: Path, manifest: dict[str, Any], stats: list[dict[str, Any]]) -> None:
    """Add this stat set to the manifest, so the next load from these files skips hashing."""
    seen = [s for s in manifest.get("seen", []) if s != stats]
    manifest["seen"] = [stats, *seen][:SEEN_MAX]
    with contextlib.suppress(OSError):  # the entry still serves; the next load hashes again
        _write_json(entry / MANIFEST, manifest)


def _write_json(path: Path, obj: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _sweep(base: Path) -> None:
    """Remove temporary folders that processes killed mid-write left behind."""
    now = time.time()
    for p in base.glob(".*"):
        try:
            if p.is_dir() and now - p.stat().st_mtime > STALE_TMP_S:
                _discard(p)
        except OSError:
            continue


def _store(
    base: Path,
    name: str,
    key: str,
    sources: Sequence[Path],
    hashes: Sequence[str],
    stats: list[dict[str, Any]],
    arrays: Arrays,
) -> None:
    """Write the entry atomically: a temporary folder beside it, renamed into place."""
    base.mkdir(parents=True, exist_ok=True)
    _sweep(base)
    entry = base / f"{name}-{key}"
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{name}-"))
    try:
        meta = {}
        for a, arr in zip(ARRAYS, arrays, strict=True):
            path = tmp / f"{a}.npy"
            np.save(path, np.ascontiguousarray(arr, dtype=np.uint8), allow_pickle=False)
            meta[a] = {
                "shape": list(arr.shape),
                "bytes": path.stat().st_size,
                "sha256": file_sha256(path) if a in LABELS else None,
            }
        manifest = {
            "format": FORMAT,
            "dataset": name,
            "key": key,
            "sources": [
                {"name": p.name, "size": s["size"], "mtime_ns": s["mtime_ns"], "sha256": h}
                for p, s, h in zip(sources, stats, hashes, strict=True)
            ],
            "seen": [stats],
            "arrays": meta,
        }
        _write_json(tmp / MANIFEST, manifest)
        try:
            os.rename(tmp, entry)
        except OSError:
            if not entry.is_dir():
                raise
            # Another process stored the same entry first: theirs is as good as ours.
    finally:
        _discard(tmp)
    # Entries read from these same paths before they changed are stale now.
    paths = [s["path"] for s in stats]
    for other in _entries(base, name):
        if other == entry:
            continue
        manifest = _read_manifest(other)
        try:
            seen = manifest["seen"] if manifest else []
            stale = bool(seen) and all([s["path"] for s in st] == paths for st in seen)
        except (KeyError, TypeError):
            stale = True  # unreadable: of no use to anyone
        if stale:
            _discard(other)


def _sliced(arrays: Arrays, limit_train: int | None, limit_test: int | None) -> Arrays:
    x_train, y_train, x_test, y_test = arrays
    return (
        x_train[:limit_train],
        y_train[:limit_train].astype(np.int64),
        x_test[:limit_test],
        y_test[:limit_test].astype(np.int64),
    )


def load(
    name: str,
    sources: Sequence[Path],
    decode: Decode,
    limit_train: int | None,
    limit_test: int | None,
) -> Arrays:
    """The dataset decoded from `sources` (uint8 images, int64 labels), from the cache when an
    entry for these files is there. `decode(limit_train, limit_test)` reads and checks the
    files (raising on a bad one) and returns uint8 arrays; a full decode (no limits) fills
    the cache, a limited one on a cold cache reads only what it needs, as before."""
    base = root()
    if base is None:
        return _sliced(decode(limit_train, limit_test), None, None)
    stats = [_stat(p) for p in sources]
    # 1. The cheap way: an entry that saw these very files (same stat) when it hashed them.
    for entry in _entries(base, name) if base.is_dir() else []:
        manifest = _read_manifest(entry)
        if manifest is None or stats not in manifest.get("seen", []):
            continue
        arrays = _open(entry, name, manifest)
        if arrays is not None:
            return _sliced(arrays, limit_train, limit_test)
        _discard(entry)
    # 2. Hash the files: the same bytes may have been decoded from elsewhere, or touched.
    hashes = [file_sha256(p) for p in sources]
    key = key_of(name, hashes)
    entry = base / f"{name}-{key}"
    manifest = _read_manifest(entry) if entry.is_dir() else None
    if manifest is not None:
        arrays = _open(entry, name, manifest)
        if arrays is not None:
            _remember(entry, manifest, stats)
            return _sliced(arrays, limit_train, limit_test)
    if entry.is_dir():
        _discard(entry)  # a broken entry: decode again
    # 3. Decode (which checks the files) and store.
    if limit_train is not None or limit_test is not None:
        return _sliced(decode(limit_train, limit_test), None, None)
    arrays = decode(None, None)
    try:
        _store(base, name, key, sources, hashes, stats, arrays)
    except OSError as exc:
        print(f"dlbench: could not cache decoded {name} in {base} ({exc})", file=sys.stderr)
    return _sliced(arrays, None, None)
