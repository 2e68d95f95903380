"""Fashion-MNIST (and MNIST's reader): real files, their shapes, limits, and damaged copies."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from dlbench.data import dataset_info, load_dataset, locate
from dlbench.data.catalog import BUILTINS, FASHION_CLASSES
from dlbench.data.idx import read_idx
from dlbench.data.locations import repair_hint
from dlbench.errors import UserError
from tests.conftest import FASHION
from tests.data.data_helpers import gunzip_to, link_fashion

# The first ten training labels of the published Fashion-MNIST.
FIRST_LABELS = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


@pytest.fixture(scope="module")
def fashion_full(fashion_dir: Path) -> object:
    return load_dataset("fashion-mnist")


def test_fashion_mnist_shapes_dtypes_and_classes(fashion_full) -> None:
    d = fashion_full
    assert d.x_train.shape == (60000, 28, 28, 1) and d.x_train.dtype == np.uint8
    assert d.y_train.shape == (60000,) and d.y_train.dtype == np.int64
    assert d.x_test.shape == (10000, 28, 28, 1) and d.x_test.dtype == np.uint8
    assert d.y_test.shape == (10000,) and d.y_test.dtype == np.int64
    assert d.class_names == FASHION_CLASSES
    assert d.class_names[0] == "T-shirt/top" and d.class_names[9] == "Ankle boot"
    assert d.input_shape == (1, 28, 28) and d.num_classes == 10
    assert d.synthetic is False and d.skipped == ()
    assert d.y_train[:10].tolist() == FIRST_LABELS
    # Fashion-MNIST is balanced: 6000 and 1000 of each class.
    assert np.bincount(d.y_train).tolist() == [6000] * 10
    assert np.bincount(d.y_test).tolist() == [1000] * 10
    assert d.x_train.flags.writeable
    assert dataset_info("fashion-mnist").input_shape == d.input_shape


def test_limits_take_the_first_samples(fashion_full) -> None:
    small = load_dataset("fashion-mnist", limit_train=300, limit_test=50)
    assert small.x_train.shape == (300, 28, 28, 1) and small.x_test.shape == (50, 28, 28, 1)
    np.testing.assert_array_equal(small.x_train, fashion_full.x_train[:300])
    np.testing.assert_array_equal(small.y_train, fashion_full.y_train[:300])
    np.testing.assert_array_equal(small.x_test, fashion_full.x_test[:50])
    np.testing.assert_array_equal(small.y_test, fashion_full.y_test[:50])
    assert load_dataset("fashion-mnist", limit_train=0, limit_test=10**9).x_train.shape[0] == 0


def test_negative_limit_is_a_user_error() -> None:
    with pytest.raises(UserError, match="limit_train"):
        load_dataset("digits", limit_train=-1)


def test_plain_and_gzipped_files_mix_in_data_dir(fashion_dir: Path, tmp_path: Path) -> None:
    folder = link_fashion(tmp_path / "fm", skip=("train-labels-idx1-ubyte.gz",))
    gunzip_to(fashion_dir / "train-labels-idx1-ubyte.gz", folder / "train-labels-idx1-ubyte")
    d = load_dataset("fashion-mnist", data_dir=folder, limit_train=20, limit_test=5)
    assert d.source == str(folder)
    assert d.y_train[:10].tolist() == FIRST_LABELS
    plain = read_idx(folder / "train-labels-idx1-ubyte", ndim=1, dataset="t", repair="")
    packed = read_idx(fashion_dir / "train-labels-idx1-ubyte.gz", ndim=1, dataset="t", repair="")
    np.testing.assert_array_equal(plain, packed)


def _truncated_copy(tmp_path: Path, name: str, keep_bytes: int) -> Path:
    folder = link_fashion(tmp_path / "fm", skip=(name,))
    with open(FASHION / name, "rb") as f:
        (folder / name).write_bytes(f.read(keep_bytes))
    return folder


def test_truncated_gzip_is_a_one_line_user_error(fashion_dir: Path, tmp_path: Path) -> None:
    folder = _truncated_copy(tmp_path, "train-images-idx3-ubyte.gz", 200_000)
    with pytest.raises(UserError) as err:
        load_dataset("fashion-mnist", data_dir=folder)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("fashion-mnist: train-images-idx3-ubyte.gz is truncated (got ")
    assert "of 47040016 bytes" in msg  # 16 header bytes + 60000 * 28 * 28
    assert f"delete {folder / 'train-images-idx3-ubyte.gz'} and rerun" in msg
    assert "dataset-fashion-mnist" in msg


def test_truncated_file_still_serves_a_prefix_that_is_intact(
    fashion_dir: Path, tmp_path: Path
) -> None:
    # With a limit only the needed prefix is decompressed: the intact part is used as is.
    folder = _truncated_copy(tmp_path, "train-images-idx3-ubyte.gz", 200_000)
    d = load_dataset("fashion-mnist", data_dir=folder, limit_train=10, limit_test=10)
    full = load_dataset("fashion-mnist", data_dir=fashion_dir, limit_train=10, limit_test=10)
    np.testing.assert_array_equal(d.x_train, full.x_train)


def test_truncated_plain_file(fashion_dir: Path, tmp_path: Path) -> None:
    folder = link_fashion(tmp_path / "fm", skip=("t10k-labels-idx1-ubyte.gz",))
    plain = gunzip_to(fashion_dir / "t10k-labels-idx1-ubyte.gz", tmp_path / "labels")
    (folder / "t10k-labels-idx1-ubyte").write_bytes(plain.read_bytes()[:5000])
    with pytest.raises(
        UserError, match=r"t10k-labels-idx1-ubyte is truncated \(got 5000 of 10008 bytes\)"
    ):
        load_dataset("fashion-mnist", data_dir=folder)


def test_wrong_magic_number(fashion_dir: Path, tmp_path: Path) -> None:
    folder = link_fashion(tmp_path / "fm", skip=("train-labels-idx1-ubyte.gz",))
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"PK\x03\x04" + bytes(100)))
    with pytest.raises(
        UserError,
        match=r"train-labels-idx1-ubyte.gz is not an IDX file \(bad magic number 504b0304\)",
    ):
        load_dataset("fashion-mnist", data_dir=folder)


def test_images_file_where_labels_belong(fashion_dir: Path, tmp_path: Path) -> None:
    folder = link_fashion(tmp_path / "fm", skip=("t10k-labels-idx1-ubyte.gz",))
    (folder / "t10k-labels-idx1-ubyte.gz").symlink_to(fashion_dir / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(
        UserError, match="with 3 dimensions, expected uint8 .* with 1: is it the right file"
    ):
        load_dataset("fashion-mnist", data_dir=folder)


def test_wrong_number_of_items(fashion_dir: Path, tmp_path: Path) -> None:
    folder = link_fashion(tmp_path / "fm", skip=("train-labels-idx1-ubyte.gz",))
    labels = b"\x00\x00\x08\x01" + (100).to_bytes(4, "big") + bytes(100)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    with pytest.raises(UserError, match="holds 100 labels, expected 60000"):
        load_dataset("fashion-mnist", data_dir=folder)


def test_corrupt_gzip_data(fashion_dir: Path, tmp_path: Path) -> None:
    folder = link_fashion(tmp_path / "fm", skip=("t10k-labels-idx1-ubyte.gz",))
    raw = bytearray((fashion_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    raw[-6] ^= 0xFF  # inside the CRC-32 trailer
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(raw))
    with pytest.raises(UserError, match=r"t10k-labels-idx1-ubyte.gz is corrupt \(gzip: "):
        load_dataset("fashion-mnist", data_dir=folder)


def test_gz_name_on_already_unpacked_file(fashion_dir: Path, tmp_path: Path) -> None:
    # Browsers sometimes unpack a download and keep its .gz name: still readable.
    folder = link_fashion(tmp_path / "fm", skip=("t10k-labels-idx1-ubyte.gz",))
    gunzip_to(fashion_dir / "t10k-labels-idx1-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    d = load_dataset("fashion-mnist", data_dir=folder, limit_train=1)
    assert d.y_test.shape == (10000,)


def test_repair_hint_for_the_debian_copy() -> None:
    hint = repair_hint(BUILTINS["fashion-mnist"], FASHION / "train-images-idx3-ubyte.gz")
    assert hint == "reinstall it with `apt-get install --reinstall dataset-fashion-mnist`"


def _idx_gz(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes(), compresslevel=1))


def test_mnist_files_load(tmp_path: Path, no_system_dirs: Path) -> None:
    # No real MNIST here: files of MNIST's shape whose first labels are MNIST's.
    folder = tmp_path / "root" / "mnist"
    folder.mkdir(parents=True)
    first = BUILTINS["mnist"].first_labels
    for prefix, n, labels in (("train", 60000, first[0]), ("t10k", 10000, first[1])):
        y = np.zeros(n, np.uint8)
        y[:10] = labels
        images = np.zeros((n, 28, 28), np.uint8)
        images[:, 14, 14] = y * 20
        _idx_gz(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _idx_gz(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
    d = load_dataset("mnist", data_dir=tmp_path / "root", limit_train=10)
    assert d.class_names == tuple("0123456789")
    assert d.source == str(folder)
    assert d.x_train.shape == (10, 28, 28, 1) and d.x_test.shape == (10000, 28, 28, 1)
    assert d.y_train.tolist() == list(first[0])
    assert d.x_train[:, 14, 14, 0].tolist() == [v * 20 for v in first[0]]


def test_fashion_files_are_not_taken_for_mnist(fashion_dir: Path, tmp_path: Path) -> None:
    # Same file names, same shapes: only the labels tell them apart.
    folder = link_fashion(tmp_path / "data")
    with pytest.raises(UserError) as err:
        load_dataset("mnist", data_dir=folder, limit_train=10, limit_test=10)
    assert str(err.value) == (
        f"mnist: {folder / 'train-labels-idx1-ubyte.gz'} holds fashion-mnist's labels, not "
        "mnist's; keep each dataset in its own sub-folder (mnist/, fashion-mnist/) of the data folder"
    )
    # With each in its own sub-folder, the right one is found for each name.
    (tmp_path / "data" / "fashion-mnist").symlink_to(folder)
    assert (
        locate("fashion-mnist", data_dir=tmp_path / "data")[0]
        == tmp_path / "data" / "fashion-mnist"
    )


def test_empty_file(fashion_dir: Path, tmp_path: Path) -> None:
    folder = link_fashion(tmp_path / "fm", skip=("t10k-images-idx3-ubyte.gz",))
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(
        UserError, match=r"fashion-mnist: t10k-images-idx3-ubyte.gz is empty; delete "
    ):
        load_dataset("fashion-mnist", data_dir=folder, limit_train=1)
