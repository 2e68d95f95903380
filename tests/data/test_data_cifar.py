"""CIFAR-10's binary format, on small files laid out exactly as the real ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlbench.data import cifar, load_dataset
from dlbench.data.catalog import CIFAR10_CLASSES
from dlbench.errors import UserError

PER_FILE = 3  # records per batch file here; the real files hold 10000


def write_batch(path: Path, images_chw: np.ndarray, labels: np.ndarray) -> None:
    """Records of <1 label byte><1024 red><1024 green><1024 blue>, as cifar-10-binary.tar.gz has."""
    with open(path, "wb") as f:
        for img, label in zip(images_chw, labels, strict=True):
            f.write(bytes([int(label)]))
            f.write(img.astype(np.uint8).tobytes(order="C"))


@pytest.fixture
def cifar_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, np.ndarray, np.ndarray]:
    """`tmp/cifar-10-batches-bin/` with 5 training batches and a test batch of PER_FILE records."""
    monkeypatch.setattr(cifar, "RECORDS_PER_FILE", PER_FILE)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, size=(6 * PER_FILE, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=6 * PER_FILE)
    # One record with a known colour: pure red must come out as channel 0 (RGB order).
    images[0] = 0
    images[0, 0] = 255
    for i in range(5):
        s = slice(i * PER_FILE, (i + 1) * PER_FILE)
        write_batch(folder / f"data_batch_{i + 1}.bin", images[s], labels[s])
    write_batch(folder / "test_batch.bin", images[5 * PER_FILE :], labels[5 * PER_FILE :])
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n\n")
    return tmp_path, images, labels


def test_parses_records_chw_to_hwc(cifar_dir, no_system_dirs) -> None:
    root, images, labels = cifar_dir
    d = load_dataset("cifar10", data_dir=root)
    n = 5 * PER_FILE
    assert d.x_train.shape == (n, 32, 32, 3) and d.x_train.dtype == np.uint8
    assert d.x_test.shape == (PER_FILE, 32, 32, 3)
    assert d.y_train.dtype == np.int64
    np.testing.assert_array_equal(d.x_train, images[:n].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(d.y_train, labels[:n])
    np.testing.assert_array_equal(d.x_test, images[n:].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(d.y_test, labels[n:])
    assert (d.x_train[0, :, :, 0] == 255).all() and (d.x_train[0, :, :, 1:] == 0).all()
    assert d.class_names == CIFAR10_CLASSES
    assert d.input_shape == (3, 32, 32)
    assert d.source == str(root / "cifar-10-batches-bin")


def test_limit_spans_batch_files(cifar_dir, no_system_dirs) -> None:
    root, images, _ = cifar_dir
    d = load_dataset("cifar10", data_dir=root, limit_train=PER_FILE + 1, limit_test=1)
    np.testing.assert_array_equal(d.x_train, images[: PER_FILE + 1].transpose(0, 2, 3, 1))
    assert d.x_test.shape == (1, 32, 32, 3)


def test_truncated_batch(cifar_dir, no_system_dirs) -> None:
    root, _, _ = cifar_dir
    path = root / "cifar-10-batches-bin" / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UserError) as err:
        load_dataset("cifar10", data_dir=root)
    msg = str(err.value)
    assert "cifar10: data_batch_3.bin is truncated (got 9119 of 9219 bytes" in msg
    assert "\n" not in msg and f"delete {root / 'cifar-10-batches-bin'}" in msg


def test_small_files_are_not_the_real_dataset(tmp_path: Path, no_system_dirs) -> None:
    # Without the test's patch, every batch must hold 10000 records.
    folder = tmp_path / "cifar10"
    folder.mkdir()
    for f in [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]:
        write_batch(folder / f, np.zeros((2, 3, 32, 32), np.uint8), np.zeros(2))
    with pytest.raises(
        UserError, match=r"is truncated \(got 6146 of 30730000 bytes, 10000 records"
    ):
        load_dataset("cifar10", data_dir=tmp_path)


def test_label_out_of_range(cifar_dir, no_system_dirs) -> None:
    root, images, _ = cifar_dir
    write_batch(
        root / "cifar-10-batches-bin" / "test_batch.bin", images[:PER_FILE], np.array([1, 2, 57])
    )
    with pytest.raises(UserError, match="label 57 found, expected 0..9: is it CIFAR-100"):
        load_dataset("cifar10", data_dir=root)


def test_missing_meta_falls_back_to_known_names(cifar_dir, no_system_dirs) -> None:
    root, _, _ = cifar_dir
    (root / "cifar-10-batches-bin" / "batches.meta.txt").unlink()
    assert load_dataset("cifar10", data_dir=root, limit_train=1).class_names == CIFAR10_CLASSES
