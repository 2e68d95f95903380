"""Downloads, against a local HTTP server: hash checked, atomic, failing fast and clearly."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import io
import socket
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dlbench.data import cifar, load_dataset, locate
from dlbench.data.catalog import BUILTINS, Remote
from dlbench.data.download import DownloadError, fetch
from dlbench.data.locations import NO_DOWNLOAD_ENV, cache_dir
from dlbench.errors import UserError
from tests.conftest import FASHION, FASHION_FILES


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path):
    """(folder served, its base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/file.gz"


def remote_for(path: Path, urls: tuple[str, ...]) -> Remote:
    data = path.read_bytes()
    return Remote(path.name, urls, len(data), hashlib.sha256(data).hexdigest())


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_fetch_checks_the_hash_then_renames(server, tmp_path: Path) -> None:
    root, url = server
    (root / "a.bin").write_bytes(b"dlbench" * 1000)
    dest = tmp_path / "got" / "a.bin"
    # The first mirror answers 404; the second one serves the file.
    fetch(remote_for(root / "a.bin", (url + "missing.bin", url + "a.bin")), dest)
    assert dest.read_bytes() == b"dlbench" * 1000
    assert leftovers(dest.parent) == []


def test_hash_mismatch_keeps_nothing(server, tmp_path: Path) -> None:
    root, url = server
    (root / "a.bin").write_bytes(b"tampered")
    good = Remote("a.bin", (url + "a.bin",), 8, hashlib.sha256(b"original").hexdigest())
    dest = tmp_path / "got" / "a.bin"
    with pytest.raises(DownloadError, match="SHA-256 is .*, expected "):
        fetch(good, dest)
    assert not dest.exists() and leftovers(dest.parent) == []


def test_http_error_and_refused_connection_fail_fast(server, tmp_path: Path) -> None:
    _, url = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(Remote("x", (url + "x",), 1, "0" * 64), tmp_path / "x")
    start = time.monotonic()
    with pytest.raises(DownloadError, match="refused"):
        fetch(Remote("x", (closed_port_url(),), 1, "0" * 64), tmp_path / "x")
    assert time.monotonic() - start < 10


def test_failed_download_is_a_user_error_naming_the_files(
    monkeypatch: pytest.MonkeyPatch, no_system_dirs: Path
) -> None:
    monkeypatch.delenv(NO_DOWNLOAD_ENV)
    b = BUILTINS["mnist"]
    dead = tuple(dataclasses.replace(r, urls=(closed_port_url(),)) for r in b.remotes)
    monkeypatch.setitem(BUILTINS, "mnist", dataclasses.replace(b, remotes=dead))
    with pytest.raises(UserError) as err:
        load_dataset("mnist")
    msg = str(err.value)
    assert msg.startswith("mnist: not found locally and the download failed (")
    assert "\n" not in msg
    for f in FASHION_FILES:
        assert f in msg
    assert str(cache_dir("mnist")) in msg and "$DLBENCH_DATA" in msg and "--data-dir" in msg


def test_download_fills_the_cache(
    server, fashion_dir: Path, monkeypatch: pytest.MonkeyPatch, no_system_dirs: Path
) -> None:
    root, url = server
    for f in FASHION_FILES:
        (root / f).symlink_to(FASHION / f)
    remotes = tuple(remote_for(root / f, (url + f,)) for f in FASHION_FILES)
    b = dataclasses.replace(BUILTINS["fashion-mnist"], remotes=remotes)
    monkeypatch.setitem(BUILTINS, "fashion-mnist", b)
    monkeypatch.delenv(NO_DOWNLOAD_ENV)
    d = load_dataset("fashion-mnist", limit_train=10, limit_test=10)
    cache = cache_dir("fashion-mnist")
    assert d.source == str(cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted(FASHION_FILES)
    assert locate("fashion-mnist") == (cache, f"found in {cache} (user cache)")
    assert d.y_train.tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_cifar_archive_takes_only_the_expected_members(
    server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_system_dirs: Path
) -> None:
    root, url = server
    monkeypatch.setattr(cifar, "RECORDS_PER_FILE", 2)
    rng = np.random.default_rng(0)
    record = lambda label: bytes([label]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()  # noqa: E731
    archive = root / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for f in [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]:
            _tar_add(tar, f"cifar-10-batches-bin/{f}", record(1) + record(2))
        _tar_add(tar, "cifar-10-batches-bin/batches.meta.txt", "\n".join("abcdefghij").encode())
        _tar_add(tar, "cifar-10-batches-bin/readme.html", b"<html>")
        _tar_add(tar, "../evil.txt", b"outside")
    b = dataclasses.replace(
        BUILTINS["cifar10"], remotes=(remote_for(archive, (url + archive.name,)),)
    )
    monkeypatch.setitem(BUILTINS, "cifar10", b)
    monkeypatch.delenv(NO_DOWNLOAD_ENV)
    d = load_dataset("cifar10")
    cache = cache_dir("cifar10")
    assert sorted(p.name for p in cache.iterdir()) == sorted([*b.files, "batches.meta.txt"])
    assert d.x_train.shape == (10, 32, 32, 3) and d.y_test.tolist() == [1, 2]
    assert d.class_names == tuple("abcdefghij")
    assert not list(tmp_path.rglob("evil.txt"))
