"""Where files are looked for, in which order, and what a user is told when they are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlbench.data import dataset_info, list_datasets, load_dataset, locate
from dlbench.data.locations import DATA_ENV, NO_DOWNLOAD_ENV, cache_dir
from dlbench.errors import UserError
from tests.conftest import FASHION, FASHION_FILES
from tests.data.data_helpers import link_fashion


def test_list_datasets() -> None:
    assert list_datasets() == [
        "fashion-mnist",
        "mnist",
        "cifar10",
        "digits",
        "folder:PATH",
        "synthetic:CxHxW[:N[:K]]",
    ]


def test_system_folder(fashion_dir: Path) -> None:
    assert locate("fashion-mnist") == (
        FASHION,
        f"found in {FASHION} (system dataset folder)",
    )


def test_search_order(fashion_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = link_fashion(cache_dir("fashion-mnist"))
    assert locate("fashion-mnist") == (cached, f"found in {cached} (user cache)")

    env_root = tmp_path / "env"
    in_env = link_fashion(env_root / "fashion-mnist")
    monkeypatch.setenv(DATA_ENV, str(env_root))
    assert locate("fashion-mnist") == (in_env, f"found in {in_env} (${DATA_ENV})")

    mine = link_fashion(tmp_path / "mine")  # files directly in --data-dir
    assert locate("fashion-mnist", data_dir=mine) == (mine, f"found in {mine} (--data-dir)")
    # A --data-dir without the files does not hide the other places.
    assert locate("fashion-mnist", data_dir=tmp_path / "empty")[0] == in_env


def test_torchvision_layout(fashion_dir: Path, tmp_path: Path, no_system_dirs: Path) -> None:
    raw = link_fashion(tmp_path / "torch" / "FashionMNIST" / "raw")
    assert locate("fashion-mnist", data_dir=tmp_path / "torch")[0] == raw


def test_not_found_says_what_to_put_where(no_system_dirs: Path) -> None:
    path, why = locate("fashion-mnist")
    assert path is None
    assert why.startswith(f"not found and downloads are off (${NO_DOWNLOAD_ENV}=1); put ")
    for f in FASHION_FILES:
        assert f in why
    assert str(cache_dir("fashion-mnist")) in why
    assert f"${DATA_ENV}" in why and "--data-dir" in why and "dataset-fashion-mnist" in why
    with pytest.raises(UserError) as err:
        load_dataset("fashion-mnist")
    assert str(err.value) == f"fashion-mnist: {why}"
    assert "\n" not in str(err.value)


def test_incomplete_folder_names_the_missing_files(
    fashion_dir: Path, tmp_path: Path, no_system_dirs: Path
) -> None:
    part = link_fashion(tmp_path / "part", skip=FASHION_FILES[2:])
    path, why = locate("fashion-mnist", data_dir=part)
    assert path is None
    assert why.startswith(
        f"incomplete in {part} (missing t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)"
    )


def test_message_when_downloads_are_on(
    monkeypatch: pytest.MonkeyPatch, no_system_dirs: Path
) -> None:
    monkeypatch.delenv(NO_DOWNLOAD_ENV)
    _, why = locate("fashion-mnist")
    assert why.startswith(
        "not found; will be downloaded (31 MB) from http://fashion-mnist.s3-website.eu-central-1"
        f".amazonaws.com/ into {cache_dir('fashion-mnist')} on first use, or put "
    )
    _, why = locate("cifar10")
    assert "(unpacked from cifar-10-binary.tar.gz)" in why and "data_batch_5.bin" in why


def test_unknown_names_and_aliases() -> None:
    with pytest.raises(
        UserError, match="unknown dataset 'fashion-mnst'; did you mean fashion-mnist?"
    ):
        locate("fashion-mnst")
    with pytest.raises(UserError) as err:
        dataset_info("imagenet")
    assert str(err.value) == (
        "unknown dataset 'imagenet'; use one of fashion-mnist, mnist, cifar10, digits, "
        "folder:PATH, synthetic:CxHxW[:N[:K]]"
    )
    assert dataset_info("Fashion_MNIST").name == "fashion-mnist"
    assert dataset_info("CIFAR-10").input_shape == (3, 32, 32)


def test_generated_datasets_have_no_files() -> None:
    assert locate("synthetic:3x32x32") == (
        None,
        "generated in memory: random pixels for timing, never for accuracy",
    )
    with pytest.raises(UserError):
        locate("synthetic:3")
