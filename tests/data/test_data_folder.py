"""folder: datasets built in tmp from real images (scikit-learn digits, scikit-image photos)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dlbench.data import dataset_info, load_dataset, locate
from dlbench.errors import UserError
from tests.data.data_helpers import write_image


def digit_folder(root: Path, digits_images, classes=(0, 1, 2), per_class: int = 10) -> Path:
    """root/<digit>/<i>.png: real 8x8 digits, `per_class` of each."""
    images, labels = digits_images
    for c in classes:
        for k, i in enumerate(np.flatnonzero(labels == c)[:per_class]):
            write_image(root / f"d{c}" / f"{k:03d}.png", images[i])
    return root


def test_holds_out_a_fifth_of_each_class(tmp_path: Path, digits_images) -> None:
    root = digit_folder(tmp_path / "digits", digits_images)
    d = load_dataset(f"folder:{root}")
    assert d.class_names == ("d0", "d1", "d2")
    assert d.x_train.shape == (24, 8, 8, 1) and d.x_test.shape == (6, 8, 8, 1)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    assert np.bincount(d.y_train).tolist() == [8, 8, 8]
    assert np.bincount(d.y_test).tolist() == [2, 2, 2]
    assert d.source == str(root.resolve()) and d.synthetic is False and d.skipped == ()
    # Every image comes back unchanged (same size, gray, lossless PNG), with its own label,
    # and no image is in both sets.
    images, labels = digits_images
    originals = {
        c: {images[i].tobytes() for i in np.flatnonzero(labels == c)[:10]} for c in range(3)
    }
    seen = [x[..., 0].tobytes() for x in (*d.x_train, *d.x_test)]
    for x, y in zip(seen, [*d.y_train, *d.y_test], strict=True):
        assert x in originals[int(y)]
    assert len(set(seen)) == len({b for s in originals.values() for b in s})
    # The first samples mix the classes (for limit_train), and the split is fixed.
    assert len(set(d.y_train[:6].tolist())) > 1
    again = load_dataset(f"folder:{root}")
    np.testing.assert_array_equal(again.x_train, d.x_train)
    np.testing.assert_array_equal(again.y_test, d.y_test)


def test_limits_take_the_first_samples(tmp_path: Path, digits_images) -> None:
    root = digit_folder(tmp_path / "digits", digits_images)
    full = load_dataset(f"folder:{root}")
    d = load_dataset(f"folder:{root}", limit_train=5, limit_test=2)
    np.testing.assert_array_equal(d.x_train, full.x_train[:5])
    np.testing.assert_array_equal(d.y_test, full.y_test[:2])


def test_train_and_test_subfolders(tmp_path: Path, digits_images) -> None:
    root = tmp_path / "split"
    digit_folder(root / "train", digits_images, classes=(3, 4), per_class=6)
    images, labels = digits_images
    for c in (3, 4):
        for k, i in enumerate(np.flatnonzero(labels == c)[50:52]):
            write_image(root / "test" / f"d{c}" / f"{k}.png", images[i])
    d = load_dataset(f"folder:{root}")
    assert d.class_names == ("d3", "d4")
    assert len(d.y_train) == 12 and len(d.y_test) == 4
    test_set = {images[i].tobytes() for c in (3, 4) for i in np.flatnonzero(labels == c)[50:52]}
    assert {x[..., 0].tobytes() for x in d.x_test} == test_set
    assert locate(f"folder:{root}")[1] == f"folder {root} (train/ and test/)"


def test_train_and_test_classes_must_match(tmp_path: Path, digits_images) -> None:
    root = tmp_path / "split"
    digit_folder(root / "train", digits_images, classes=(0, 1), per_class=2)
    digit_folder(root / "test", digits_images, classes=(0, 2), per_class=2)
    with pytest.raises(
        UserError, match=r"differ \(missing from the test set: d1; only in the test set: d2\)"
    ):
        load_dataset(f"folder:{root}")


def test_separate_test_folder_option(tmp_path: Path, digits_images) -> None:
    train = digit_folder(tmp_path / "a", digits_images, classes=(5, 6), per_class=4)
    test = digit_folder(tmp_path / "b", digits_images, classes=(5, 6), per_class=1)
    d = load_dataset(f"folder:{train}?test={test}")
    assert (len(d.y_train), len(d.y_test)) == (8, 2)
    assert str(test.resolve()) in d.source


def test_one_class_is_an_error(tmp_path: Path, digits_images) -> None:
    root = digit_folder(tmp_path / "one", digits_images, classes=(7,), per_class=3)
    with pytest.raises(
        UserError, match=r"has only one class sub-folder \(d7/\); a classifier needs at least two"
    ):
        load_dataset(f"folder:{root}")


def test_empty_class_folder_is_an_error(tmp_path: Path, digits_images) -> None:
    root = digit_folder(tmp_path / "f", digits_images, classes=(0, 1), per_class=3)
    (root / "empty").mkdir()
    with pytest.raises(UserError) as err:
        dataset_info(f"folder:{root}")
    assert (
        str(err.value)
        == f"class folder {root / 'empty'} has no images; add .png/.jpg images to it or remove it"
    )


def test_missing_folder_and_loose_images(tmp_path: Path, digits_images) -> None:
    with pytest.raises(UserError, match=f"folder {tmp_path / 'nope'} does not exist; create it"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    assert locate(f"folder:{tmp_path / 'nope'}")[0] is None
    write_image(tmp_path / "loose" / "a.png", digits_images[0][0])
    with pytest.raises(UserError, match=r"has no class sub-folders \(the images lie loose in it\)"):
        load_dataset(f"folder:{tmp_path / 'loose'}")


def test_non_images_are_skipped_and_counted(tmp_path: Path, digits_images) -> None:
    root = digit_folder(tmp_path / "f", digits_images, classes=(0, 1), per_class=5)
    (root / "d0" / "notes.txt").write_text("not an image")
    (root / "d0" / "broken.png").write_bytes(b"\x89PNG but not really")
    (root / "d1" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    d = load_dataset(f"folder:{root}")
    assert sorted(d.skipped) == ["d0/broken.png", "d0/notes.txt"]
    assert len(d.y_train) + len(d.y_test) == 10


def test_mixed_sizes_are_resized_to_the_first(tmp_path: Path) -> None:
    import skimage.data

    camera = skimage.data.camera()  # 512x512 gray
    coins = skimage.data.coins()  # 303x384 gray
    root = tmp_path / "photos"
    write_image(root / "a" / "0.png", cv2.resize(camera, (40, 30), interpolation=cv2.INTER_AREA))
    write_image(root / "a" / "1.png", camera)
    write_image(root / "b" / "0.jpg", coins)
    write_image(root / "b" / "1.png", coins[:100, :50])
    d = load_dataset(f"folder:{root}")
    assert d.input_shape == (1, 30, 40)
    assert d.x_train.shape[1:] == (30, 40, 1) and d.x_test.shape[1:] == (30, 40, 1)
    # INTER_AREA on the full camera image gives exactly the first image's pixels.
    small = cv2.resize(camera, (40, 30), interpolation=cv2.INTER_AREA)
    all_x = np.concatenate([d.x_train, d.x_test])[..., 0]
    assert any(np.array_equal(x, small) for x in all_x)

    sized = load_dataset(f"folder:{root}?size=16")
    assert sized.input_shape == (1, 16, 16)
    assert load_dataset(f"folder:{root}?size=12x20").x_train.shape[1:] == (12, 20, 1)
    assert dataset_info(f"folder:{root}?size=12x20").input_shape == (1, 12, 20)


def test_color_default_and_options(tmp_path: Path) -> None:
    import skimage.data

    astronaut = cv2.resize(skimage.data.astronaut(), (24, 24), interpolation=cv2.INTER_AREA)
    coffee = cv2.resize(skimage.data.coffee(), (24, 24), interpolation=cv2.INTER_AREA)
    camera = cv2.resize(skimage.data.camera(), (24, 24), interpolation=cv2.INTER_AREA)
    root = tmp_path / "mixed"
    write_image(root / "a" / "astronaut.png", astronaut)
    write_image(root / "a" / "camera.png", camera)
    write_image(root / "b" / "coffee.png", coffee)
    write_image(root / "b" / "camera-rgb.png", np.repeat(camera[..., None], 3, axis=2))

    d = load_dataset(f"folder:{root}")  # one colour image: everything RGB
    assert d.input_shape == (3, 24, 24)
    all_x = np.concatenate([d.x_train, d.x_test])
    assert any(np.array_equal(x, astronaut) for x in all_x)  # RGB order, not BGR
    assert any(np.array_equal(x, np.repeat(camera[..., None], 3, axis=2)) for x in all_x)

    gray = load_dataset(f"folder:{root}?color=gray")
    assert gray.input_shape == (1, 24, 24)
    gray_x = np.concatenate([gray.x_train, gray.x_test])[..., 0]
    assert any(np.array_equal(x, cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)) for x in gray_x)
    assert dataset_info(f"folder:{root}?color=rgb").input_shape == (3, 24, 24)


def test_gray_when_every_image_is_gray(tmp_path: Path) -> None:
    import skimage.data

    root = tmp_path / "gray"
    camera = cv2.resize(skimage.data.camera(), (16, 16), interpolation=cv2.INTER_AREA)
    moon = cv2.resize(skimage.data.moon(), (16, 16), interpolation=cv2.INTER_AREA)
    write_image(root / "camera" / "0.png", camera)
    write_image(root / "camera" / "1.png", np.repeat(camera[..., None], 3, axis=2))  # gray in RGB
    write_image(root / "moon" / "0.png", moon)
    write_image(root / "moon" / "1.bmp", moon)
    d = load_dataset(f"folder:{root}")
    assert d.input_shape == (1, 16, 16)
    assert dataset_info(f"folder:{root}").input_shape == (1, 16, 16)
    rgb = load_dataset(f"folder:{root}?color=rgb")
    assert rgb.input_shape == (3, 16, 16)
    assert (rgb.x_train[..., 0] == rgb.x_train[..., 2]).all()


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        ("?size=big", "size='big' is not N or HxW"),
        ("?size=0", "size=0 is out of range"),
        ("?color=sepia", "color='sepia' is unknown; use color=gray or color=rgb"),
        ("?shape=3", "unknown option 'shape'; the options are size, color and test"),
    ],
)
def test_bad_options(tmp_path: Path, digits_images, suffix: str, message: str) -> None:
    root = digit_folder(tmp_path / "f", digits_images, classes=(0, 1), per_class=2)
    with pytest.raises(UserError, match=message.replace("?", r"\?")):
        load_dataset(f"folder:{root}{suffix}")


def test_info_matches_load(tmp_path: Path, digits_images) -> None:
    root = digit_folder(tmp_path / "f", digits_images, classes=(1, 2, 3), per_class=3)
    info = dataset_info(f"folder:{root}")
    d = load_dataset(f"folder:{root}")
    assert (info.input_shape, info.num_classes, info.class_names) == (
        d.input_shape,
        d.num_classes,
        d.class_names,
    )
    assert info.synthetic is False
