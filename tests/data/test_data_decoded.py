"""The cache of decoded datasets (data/decoded.py), on the real Fashion-MNIST files.

Most tests drive `decoded.load` with the real IDX reader over Fashion-MNIST's test files (4 MB,
split 8,000 / 2,000), which decodes in a fraction of a second; two go through `load_dataset`
with the whole dataset.
"""

from __future__ import annotations

import gzip
import json
import mmap
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlbench.data import decoded, idx, load_dataset
from dlbench.errors import UserError
from tests.conftest import FASHION, needs_fashion

pytestmark = needs_fashion

IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
SPLIT = 8000


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "decoded"
    monkeypatch.setenv(decoded.CACHE_ENV, str(root))
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of Fashion-MNIST's two test files, free to change."""
    dest = tmp_path / "src"
    dest.mkdir()
    for f in (IMAGES, LABELS):
        shutil.copy(FASHION / f, dest / f)
    return dest


class Reader:
    """The real IDX reader over the two files; counts how often it decoded."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.calls = folder, 0
        self.sources = [folder / IMAGES, folder / LABELS]

    def __call__(self, limit_train: int | None, limit_test: int | None) -> decoded.Arrays:
        self.calls += 1
        x = idx.read_idx(self.sources[0], ndim=3, dataset="t", repair="replace it")[..., None]
        y = idx.read_idx(self.sources[1], ndim=1, dataset="t", repair="replace it")
        x_test, y_test = x[SPLIT:][:limit_test], y[SPLIT:][:limit_test]
        return x[:SPLIT][:limit_train], y[:SPLIT][:limit_train], x_test, y_test

    def load(self, limit_train: int | None = None, limit_test: int | None = None):
        return decoded.load("t", self.sources, self, limit_train, limit_test)


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir()) if cache.is_dir() else []


def mapped(a: np.ndarray) -> bool:
    """Whether `a`'s memory is a file mapped in (np.memmap or mmap somewhere under it)."""
    base = a
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def assert_same(a: decoded.Arrays, b: decoded.Arrays) -> None:
    for u, v in zip(a, b, strict=True):
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_array_equal(u, v)


def test_a_hit_maps_the_same_arrays_a_fresh_decode_gives(cache: Path, folder: Path) -> None:
    reader = Reader(folder)
    first = reader.load()  # decodes and stores
    assert reader.calls == 1 and [p.name for p in entries(cache)] == [
        f"t-{decoded.key_of('t', [decoded.file_sha256(p) for p in reader.sources])}"
    ]
    again = reader.load()
    assert reader.calls == 1  # answered by the cache
    assert_same(first, again)
    assert first[1].dtype == np.int64 and first[0].dtype == np.uint8
    assert mapped(again[0]) and not mapped(first[0])
    # Copy-on-write: a caller's writes stay in its process, never in the cache.
    again[0][0] = 255
    assert_same(first, reader.load())


def test_limits_slice_a_hit_and_a_cold_limited_load_stores_nothing(
    cache: Path, folder: Path
) -> None:
    reader = Reader(folder)
    part = reader.load(100, 50)
    assert reader.calls == 1 and entries(cache) == []  # only what was asked was read
    full = reader.load()
    sliced = reader.load(100, 50)
    assert reader.calls == 2
    assert_same(part, sliced)
    assert_same(sliced, tuple(a[:n] for a, n in zip(full, (100, 100, 50, 50), strict=True)))


def test_a_changed_source_is_decoded_again(cache: Path, folder: Path) -> None:
    reader = Reader(folder)
    before = reader.load()
    labels = gzip.decompress((folder / LABELS).read_bytes())
    changed = bytearray(labels)
    changed[8 + 100] = (changed[8 + 100] + 1) % 10  # label 100, after the 8-byte header
    (folder / LABELS).write_bytes(gzip.compress(bytes(changed)))
    after = reader.load()
    assert reader.calls == 2
    assert after[1][100] == (before[1][100] + 1) % 10
    # The entry of the old bytes, read from these same paths, is gone.
    assert len(entries(cache)) == 1
    assert_same(after, reader.load())
    assert reader.calls == 2


def test_touching_a_source_rehashes_but_keeps_the_entry(cache: Path, folder: Path) -> None:
    reader = Reader(folder)
    reader.load()
    st = os.stat(folder / IMAGES)
    os.utime(folder / IMAGES, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    reader.load()
    assert reader.calls == 1  # same bytes, same key: no decode
    (manifest,) = [json.loads((e / decoded.MANIFEST).read_text()) for e in entries(cache)]
    assert len(manifest["seen"]) == 2  # the new stat is remembered: no hashing next time


def test_a_corrupt_source_is_caught_after_a_good_one_was_cached(cache: Path, folder: Path) -> None:
    reader = Reader(folder)
    reader.load()
    data = (folder / IMAGES).read_bytes()
    (folder / IMAGES).write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated"):
        reader.load()


@pytest.mark.parametrize("damage", ["truncate-images", "truncate-labels", "flip-label", "manifest"])
def test_a_damaged_entry_is_discarded_and_rebuilt(cache: Path, folder: Path, damage: str) -> None:
    reader = Reader(folder)
    good = reader.load()
    (entry,) = entries(cache)
    if damage == "truncate-images":
        path = entry / "x_train.npy"
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "truncate-labels":
        path = entry / "y_test.npy"
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "flip-label":  # same size, other bytes: the labels' hash differs
        path = entry / "y_train.npy"
        raw = bytearray(path.read_bytes())
        raw[-1] ^= 1
        path.write_bytes(bytes(raw))
    else:
        (entry / decoded.MANIFEST).write_text('{"format": 1, "arr')
    assert_same(good, reader.load())
    assert reader.calls == 2
    assert_same(good, reader.load())
    assert reader.calls == 2  # rebuilt whole


def test_nothing_in_the_cache_is_ever_unpickled(cache: Path, folder: Path, tmp_path: Path) -> None:
    reader = Reader(folder)
    good = reader.load()
    (entry,) = entries(cache)
    # An object array whose unpickling would leave a mark, the size the manifest expects.
    marker = tmp_path / "unpickled"
    evil = np.array([Mark(str(marker))], dtype=object)
    np.save(entry / "x_test.npy", evil, allow_pickle=True)
    manifest = json.loads((entry / decoded.MANIFEST).read_text())
    manifest["arrays"]["x_test"]["bytes"] = (entry / "x_test.npy").stat().st_size
    (entry / decoded.MANIFEST).write_text(json.dumps(manifest))
    assert_same(good, reader.load())
    assert not marker.exists() and reader.calls == 2


class Mark:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path(self.path).touch, ())


def test_the_key_follows_the_bytes_and_the_name() -> None:
    assert decoded.key_of("t", ["a", "b"]) != decoded.key_of("t", ["a", "c"])
    assert decoded.key_of("t", ["a", "b"]) != decoded.key_of("u", ["a", "b"])
    assert decoded.key_of("t", ["a", "b"]) != decoded.key_of("t", ["b", "a"])
    assert len(decoded.key_of("t", ["a"])) == 64


WRITE_FAILS = """
import resource, signal, sys
from pathlib import Path
from tests.data.test_data_decoded import Reader
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
x_train, y_train, x_test, y_test = Reader(Path(sys.argv[1])).load()
print(len(x_train), len(x_test), int(y_train.sum()))
"""


def test_a_failed_write_leaves_no_entry_and_no_temporary_files(cache: Path, folder: Path) -> None:
    # A real failure: files may not grow past 1 MiB in that process, the images are 6 MB.
    done = subprocess.run(
        [sys.executable, "-c", WRITE_FAILS, str(folder)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        cwd=Path(__file__).parents[2],
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    good = Reader(folder).load(SPLIT, None)  # a cold limited load: no write
    assert done.stdout.split() == ["8000", "2000", str(int(good[1].sum()))]
    assert "could not cache decoded t" in done.stderr
    assert list(cache.iterdir()) == []  # no entry, no temporary folder


def test_a_stale_temporary_folder_is_not_an_entry(cache: Path, folder: Path) -> None:
    cache.mkdir()
    left = cache / ".t-abandoned"
    left.mkdir()
    (left / "x_train.npy").write_bytes(b"half")
    os.utime(left, (1, 1))  # older than STALE_TMP_S: a process died writing it
    reader = Reader(folder)
    reader.load()
    assert reader.calls == 1 and not left.exists()
    assert [p.name[:2] for p in entries(cache)] == ["t-"]


def test_off_turns_the_cache_off(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(decoded.CACHE_ENV, "off")
    assert decoded.root() is None
    reader = Reader(folder)
    reader.load()
    reader.load()
    assert reader.calls == 2


def test_default_root_is_dlbench_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(decoded.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert decoded.root() == tmp_path / "xdg" / "dlbench" / "decoded"


def test_load_dataset_through_the_cache_equals_a_fresh_decode(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(decoded.CACHE_ENV, "off")
    fresh = load_dataset("fashion-mnist")
    monkeypatch.setenv(decoded.CACHE_ENV, str(cache))
    filled = load_dataset("fashion-mnist")  # the parent's check of a plan
    hit = load_dataset("fashion-mnist", limit_train=2000, limit_test=1000)  # the run's load
    for a in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(fresh, a), getattr(filled, a))
        np.testing.assert_array_equal(getattr(fresh, a)[: len(getattr(hit, a))], getattr(hit, a))
        assert getattr(fresh, a).dtype == getattr(hit, a).dtype
    assert hit.x_train.shape == (2000, 28, 28, 1) and hit.y_test.shape == (1000,)
    assert hit.source == fresh.source and hit.class_names == fresh.class_names
    assert len(entries(cache)) == 1
