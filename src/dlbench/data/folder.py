"""`folder:PATH`: your own images, one sub-folder per class, read with OpenCV.

    folder:/data/faces                      classes = sub-folders of /data/faces, sorted
    folder:/data/faces?size=64&color=gray   every image resized to 64x64 and made gray
    folder:/data/faces?size=48x64           48 high, 64 wide
    folder:/data/faces?test=/data/faces-test

If PATH holds exactly `train/` and `test/` (each with the same class sub-folders), those are
the training and test sets; `test=OTHER` names a separate test folder; otherwise a fixed-seed
20% of each class is held out as the test set, so test images never leak into training.

Size: `size=N` or `size=HxW`, default the size of the first image (first class, first file
by name); every image is resized to it with cv2.INTER_AREA. Color: `color=gray|rgb`, default
gray when every image read is gray (a 3-channel image with equal channels counts as gray),
else RGB (channels in RGB order, not OpenCV's BGR). Files that are not images (by extension)
or do not decode are skipped, and their names are kept in `Dataset.skipped`. Samples are
shuffled with a fixed seed so that `limit_train`'s first n samples mix the classes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlbench.data.dataset import Dataset, DatasetInfo
from dlbench.data.transforms import holdout_indices
from dlbench.errors import UserError

log = logging.getLogger(__name__)

PREFIX = "folder:"
PATTERN = "folder:PATH[?size=N|HxW&color=gray|rgb&test=PATH]"
SPLIT_SEED = 0
TEST_FRACTION = 0.2
MAX_SIDE = 8192
# What OpenCV's imgcodecs can read; other files are skipped without trying to decode them.
_SUFFIXES = (
    ".png .jpg .jpeg .jpe .jp2 .bmp .dib .tif .tiff .webp .avif .gif .pgm .ppm .pbm .pnm .pxm "
    ".pam .sr .ras .hdr .pic .exr"
)
IMAGE_SUFFIXES = frozenset(_SUFFIXES.split())
_COLORS = {"gray": "gray", "grey": "gray", "rgb": "rgb", "color": "rgb", "colour": "rgb"}
_SIZE = re.compile(r"^(\d+)(?:x(\d+))?$")


@dataclass(frozen=True)
class FolderSpec:
    path: Path
    size: tuple[int, int] | None = None  # (height, width); None: the first image's size
    color: str | None = None  # "gray" or "rgb"; None: gray when every image is gray
    test: Path | None = None  # a separate test folder


def parse(name: str) -> FolderSpec:
    body = name[len(PREFIX) :]
    path_text, _, query = body.partition("?")
    if query and not Path(path_text).expanduser().exists() and Path(body).expanduser().exists():
        path_text, query = body, ""  # a path that really contains "?"
    if not path_text.strip():
        raise UserError(f"{name!r} names no folder; write {PATTERN}")
    size = color = test = None
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == "size":
            m = _SIZE.match(value.lower())
            if not m:
                raise UserError(
                    f"{name}: size={value!r} is not N or HxW (e.g. size=64 or size=48x64)"
                )
            h = int(m.group(1))
            w = int(m.group(2)) if m.group(2) else h
            if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
                raise UserError(f"{name}: size={value} is out of range; use sides of 1..{MAX_SIDE}")
            size = (h, w)
        elif key == "color":
            if value.lower() not in _COLORS:
                raise UserError(f"{name}: color={value!r} is unknown; use color=gray or color=rgb")
            color = _COLORS[value.lower()]
        elif key == "test":
            if not value:
                raise UserError(f"{name}: test= names no folder; write test=PATH")
            test = Path(value).expanduser()
        else:
            raise UserError(f"{name}: unknown option {key!r}; the options are size, color and test")
    return FolderSpec(Path(path_text).expanduser(), size, color, test)


@dataclass
class Layout:
    """What the folders hold, before any image is decoded."""

    classes: tuple[str, ...]
    train: list[list[Path]]  # per class, the image files, sorted by name
    test: list[list[Path]] | None  # the same for a separate test set; None: hold out 20%
    source: str
    skipped: list[str] = field(default_factory=list)  # files that are not images


def _subdirs(folder: Path) -> list[Path]:
    return sorted(
        (d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: d.name,
    )


def _check_dir(folder: Path, what: str) -> None:
    if not folder.exists():
        raise UserError(
            f"{what} {folder} does not exist; create it with one sub-folder of images per class "
            f"({folder}/<class>/*.png)"
        )
    if not folder.is_dir():
        raise UserError(
            f"{what} {folder} is a file, not a folder; name the folder that holds the class sub-folders"
        )


def _scan_classes(
    root: Path, base: Path, skipped: list[str]
) -> tuple[tuple[str, ...], list[list[Path]]]:
    classes = _subdirs(root)
    if not classes:
        loose = any(f.suffix.lower() in IMAGE_SUFFIXES for f in root.iterdir() if f.is_file())
        hint = "the images lie loose in it" if loose else "it has no sub-folders"
        raise UserError(
            f"folder {root} has no class sub-folders ({hint}); put the images in one sub-folder "
            f"per class: {root}/<class>/*.png"
        )
    if len(classes) == 1:
        raise UserError(
            f"folder {root} has only one class sub-folder ({classes[0].name}/); a classifier needs "
            f"at least two: add a sub-folder of images for each other class"
        )
    files: list[list[Path]] = []
    for d in classes:
        images = []
        others = []
        for f in sorted(d.iterdir(), key=lambda f: f.name):
            if f.name.startswith("."):
                continue  # .DS_Store and friends: not data, not worth a warning
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                images.append(f)
            else:
                others.append(_rel(f, base) + ("/" if f.is_dir() else ""))
        if not images:
            extra = f" (only {len(others)} other files)" if others else ""
            raise UserError(
                f"class folder {d} has no images{extra}; add .png/.jpg images to it or remove it"
            )
        skipped.extend(others)
        files.append(images)
    return tuple(d.name for d in classes), files


def _rel(f: Path, base: Path) -> str:
    try:
        return f.relative_to(base).as_posix()
    except ValueError:
        return str(f)


def scan(spec: FolderSpec) -> Layout:
    """List classes and image files, checking the layout; decodes nothing."""
    _check_dir(spec.path, "folder")
    names = {d.name for d in _subdirs(spec.path)}
    test_root = spec.test
    train_root = spec.path
    source = str(spec.path.resolve())
    if {"train", "test"} <= names:
        if spec.test is not None:
            raise UserError(
                f"folder {spec.path} has train/ and test/ sub-folders and test= names another test "
                f"set; drop test= or point at {spec.path}/train"
            )
        if names - {"train", "test"}:
            raise UserError(
                f"folder {spec.path} has train/ and test/ and also {', '.join(sorted(names - {'train', 'test'}))}/; "
                f"move the class sub-folders into train/ and test/"
            )
        train_root, test_root = spec.path / "train", spec.path / "test"
    elif test_root is not None:
        _check_dir(test_root, "test folder")
        source = f"{source}; test {test_root.resolve()}"
    skipped: list[str] = []
    classes, train = _scan_classes(train_root, spec.path, skipped)
    test = None
    if test_root is not None:
        test_classes, test = _scan_classes(
            test_root, spec.path if spec.test is None else test_root, skipped
        )
        if test_classes != classes:
            only_train = sorted(set(classes) - set(test_classes))
            only_test = sorted(set(test_classes) - set(classes))
            diff = "; ".join(
                s
                for s in (
                    f"missing from the test set: {', '.join(only_train)}" if only_train else "",
                    f"only in the test set: {', '.join(only_test)}" if only_test else "",
                )
                if s
            )
            raise UserError(
                f"the class sub-folders of {train_root} and {test_root} differ ({diff}); "
                f"give both the same class sub-folders"
            )
    return Layout(classes, train, test, source, skipped)


def decode(path: Path) -> np.ndarray | None:
    """An image as uint8 (H, W, 1) gray or (H, W, 3) RGB, or None if it will not decode.

    3-channel images whose channels are all equal come back gray; alpha is dropped; 16-bit
    images keep their high byte. EXIF orientation is applied (IMREAD_UNCHANGED would not).
    """
    import cv2

    try:
        buf = np.fromfile(path, dtype=np.uint8)  # not cv2.imread: it fails on non-ASCII paths
    except OSError:
        return None
    if buf.size == 0:
        return None
    img = cv2.imdecode(buf, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    if img is None or img.size == 0:
        return None
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        return None  # float HDR/EXR: no single right way to map to 0..255
    if img.ndim == 2:
        return img[..., None]
    if img.shape[2] == 1:
        return img
    if img.shape[2] != 3:
        return None
    if np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2]):
        return np.ascontiguousarray(img[..., :1])
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def fit_image(img: np.ndarray, size: tuple[int, int], color: str | None) -> np.ndarray:
    """Resize to (H, W) with INTER_AREA and, when `color` is set, convert to it."""
    import cv2

    if color == "gray" and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
    elif color == "rgb" and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.shape[:2] != size:
        channels = img.shape[2]
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        img = img.reshape(size[0], size[1], channels)
    return img


def _first_image(layout: Layout, base: Path) -> np.ndarray:
    """The first image that decodes, in class order then file name order."""
    tried = 0
    for files in layout.train:
        for f in files:
            img = decode(f)
            if img is not None:
                return img
            tried += 1
    raise UserError(
        f"none of the {tried} image files under {base} could be decoded; check that they are "
        f"PNG/JPEG images OpenCV can read"
    )


def info(name: str) -> DatasetInfo:
    """Shape and classes from the folder names and the first image (its size and, unless
    color= is given, its gray or color; a later color image makes `load` return RGB)."""
    spec = parse(name)
    layout = scan(spec)
    first = _first_image(layout, spec.path)
    h, w = spec.size or first.shape[:2]
    c = {"gray": 1, "rgb": 3}[spec.color] if spec.color else first.shape[2]
    return DatasetInfo(name, (int(c), int(h), int(w)), len(layout.classes), layout.classes, False)


def _read(
    samples: list[tuple[Path, int]],
    limit: int | None,
    size: tuple[int, int],
    color: str | None,
    base: Path,
    skipped: list[str],
) -> tuple[list[np.ndarray], list[int]]:
    images: list[np.ndarray] = []
    labels: list[int] = []
    for path, label in samples:
        if limit is not None and len(images) >= limit:
            break
        img = decode(path)
        if img is None:
            skipped.append(_rel(path, base))
            continue
        images.append(fit_image(img, size, color))
        labels.append(label)
    return images, labels


def _stack(images: list[np.ndarray], size: tuple[int, int], channels: int) -> np.ndarray:
    out = np.empty((len(images), size[0], size[1], channels), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = img if img.shape[2] == channels else np.repeat(img, channels, axis=2)
    return out


def load(name: str, limit_train: int | None, limit_test: int | None) -> Dataset:
    spec = parse(name)
    layout = scan(spec)
    first = _first_image(layout, spec.path)
    size = spec.size or (int(first.shape[0]), int(first.shape[1]))

    paths = [f for files in layout.train for f in files]
    labels = np.array([c for c, files in enumerate(layout.train) for _ in files], dtype=np.int64)
    if layout.test is None:
        train_idx, test_idx = holdout_indices(labels, TEST_FRACTION, SPLIT_SEED)
        if len(test_idx) == 0:
            raise UserError(
                f"folder {spec.path} has one image per class, too few to hold out a test set; "
                f"add images or give a test folder with ?test=PATH"
            )
        train = [(paths[i], int(labels[i])) for i in train_idx]
        test = [(paths[i], int(labels[i])) for i in test_idx]
    else:
        rng = np.random.default_rng(SPLIT_SEED)
        train = [(paths[i], int(labels[i])) for i in rng.permutation(len(paths))]
        test_paths = [f for files in layout.test for f in files]
        test_labels = [c for c, files in enumerate(layout.test) for _ in files]
        test = [(test_paths[i], test_labels[i]) for i in rng.permutation(len(test_paths))]

    skipped = list(layout.skipped)
    base = spec.path
    x_tr, y_tr = _read(train, limit_train, size, spec.color, base, skipped)
    x_te, y_te = _read(test, limit_test, size, spec.color, spec.test or base, skipped)
    if limit_train is None:
        present = set(y_tr)
        empty = [cls for c, cls in enumerate(layout.classes) if c not in present]
        if empty:
            raise UserError(
                f"no image of class {', '.join(empty)} under {spec.path} could be decoded; "
                f"replace those files with PNG/JPEG images"
            )
    if skipped:
        shown = ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        log.warning(
            "folder %s: skipped %d files that are not readable images: %s",
            spec.path,
            len(skipped),
            shown,
        )

    channels = {"gray": 1, "rgb": 3}[spec.color] if spec.color else 1
    if spec.color is None and any(img.shape[2] == 3 for img in (*x_tr, *x_te)):
        channels = 3
    return Dataset(
        name=name,
        x_train=_stack(x_tr, size, channels),
        y_train=np.array(y_tr, dtype=np.int64),
        x_test=_stack(x_te, size, channels),
        y_test=np.array(y_te, dtype=np.int64),
        class_names=layout.classes,
        source=layout.source,
        synthetic=False,
        skipped=tuple(skipped),
    )
