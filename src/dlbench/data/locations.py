"""Where a built-in dataset's files are: the search order, and what to tell a user who has none.

Order: an explicit `data_dir`, `$DLBENCH_DATA`, the user cache, the system's dataset folders
(Debian's `dataset-fashion-mnist` installs `/usr/share/datasets/fashion-mnist/`), then a
download into the user cache (see download.py). In every root the files may sit in a
sub-folder named after the dataset (looked at first) or directly in it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dlbench.data.catalog import BuiltIn

DATA_ENV = "DLBENCH_DATA"  # a folder (or several, separated by os.pathsep) holding datasets
NO_DOWNLOAD_ENV = "DLBENCH_NO_DOWNLOAD"  # "1": never download, fail with what to put where
CACHE_ENV = "XDG_CACHE_HOME"
SYSTEM_DIRS = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))


def downloads_enabled() -> bool:
    return os.environ.get(NO_DOWNLOAD_ENV, "").strip().lower() in ("", "0", "false", "no")


def cache_dir(name: str) -> Path:
    """`$XDG_CACHE_HOME/dlbench/<name>`, or `~/.cache/dlbench/<name>`."""
    base = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache")
    return Path(base).expanduser() / "dlbench" / name


def data_roots(data_dir: Path | None) -> list[tuple[Path, str]]:
    """The user-given roots, first to last, each with how the user named it."""
    roots: list[tuple[Path, str]] = []
    if data_dir is not None:
        roots.append((Path(data_dir).expanduser(), "--data-dir"))
    for part in os.environ.get(DATA_ENV, "").split(os.pathsep):
        if part.strip():
            roots.append((Path(part.strip()).expanduser(), f"${DATA_ENV}"))
    return roots


def candidates(b: BuiltIn, data_dir: Path | None) -> list[tuple[Path, str]]:
    """Every folder that may hold the files, in search order, each with its origin."""
    found: list[tuple[Path, str]] = []
    for root, origin in data_roots(data_dir):
        # The dataset's own sub-folder first: MNIST and Fashion-MNIST files have the same names.
        found.extend((root / d, origin) for d in b.dir_names)
        found.append((root, origin))
    found.append((cache_dir(b.name), "user cache"))
    for system in SYSTEM_DIRS:
        found.extend(
            (system / d, "system dataset folder") for d in dict.fromkeys((b.name, *b.dir_names))
        )
    return found


def file_in(folder: Path, filename: str) -> Path | None:
    """`filename` in `folder`; IDX files also gzipped or spelled with a dot (`train-images.idx3-ubyte`)."""
    names = [filename]
    if "-idx" in filename:
        names = [filename + ".gz", filename, filename.replace("-idx", ".idx")]
    for n in names:
        p = folder / n
        if p.is_file():
            return p
    return None


@dataclass(frozen=True)
class Found:
    folder: Path | None  # the first folder holding every file, or None
    origin: str  # how that folder was named ("--data-dir", "user cache", ...)
    partial: tuple[Path, tuple[str, ...]] | None  # a folder with some files: it and what it lacks


def search(b: BuiltIn, data_dir: Path | None) -> Found:
    partial = None
    for folder, origin in candidates(b, data_dir):
        if not folder.is_dir():
            continue
        missing = tuple(f for f in b.files if file_in(folder, f) is None)
        if not missing:
            return Found(folder, origin, None)
        if partial is None and len(missing) < len(b.files):
            partial = (folder, missing)
    return Found(None, "", partial)


def _shown(b: BuiltIn, f: str) -> str:
    return f + ".gz" if "-idx" in f else f


def where_to_put(b: BuiltIn) -> str:
    """Which files to put where, as one clause."""
    files = ", ".join(_shown(b, f) for f in b.files)
    if b.archive_members and b.remotes:
        files += f" (unpacked from {b.remotes[0].filename})"
    text = (
        f"put {files} in {cache_dir(b.name)} or in a folder given by ${DATA_ENV} or --data-dir "
        f"(directly or in a {b.name}/ sub-folder)"
    )
    if b.debian_package:
        text += f", or install Debian's {b.debian_package}"
    return text


def not_found_message(b: BuiltIn, found: Found) -> str:
    """One line: what is missing, whether it will be downloaded, and where to put the files."""
    head = "not found"
    if found.partial is not None:
        folder, missing = found.partial
        head = f"incomplete in {folder} (missing {', '.join(_shown(b, f) for f in missing)})"
    if downloads_enabled() and b.remotes:
        size_mb = sum(r.size_bytes for r in b.remotes) / 1e6
        url = b.remotes[0].urls[0].rsplit("/", 1)[0] + "/"
        return (
            f"{head}; will be downloaded ({size_mb:.0f} MB) from {url} into {cache_dir(b.name)} "
            f"on first use, or {where_to_put(b)}"
        )
    off = f" and downloads are off (${NO_DOWNLOAD_ENV}=1)" if b.remotes else ""
    return f"{head}{off}; {where_to_put(b)}"


def repair_hint(b: BuiltIn, path: Path) -> str:
    """How to replace a damaged file, depending on where it lies."""
    p = Path(os.path.abspath(path))  # not resolve(): a symlink in a user folder is the user's
    if b.debian_package and any(p.is_relative_to(s) for s in SYSTEM_DIRS):
        return f"reinstall it with `apt-get install --reinstall {b.debian_package}`"
    url = b.remotes[0].urls[0] if b.remotes else ""
    hint = f"delete {path} and rerun"
    if downloads_enabled() and b.remotes:
        hint += " to download it again"
    if url:
        hint += f", or replace it with a good copy from {url.rsplit('/', 1)[0]}/"
    if b.debian_package:
        hint += f", or install Debian's {b.debian_package}"
    return hint
