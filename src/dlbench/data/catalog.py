"""The built-in datasets: their shapes, classes, files, and where to download them from.

The hashes are the published SHA-256 of the files at their canonical addresses (the same values
TensorFlow Datasets pins in its `url_checksums/`); a download that does not match is thrown away.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Remote:
    """One file to download: its mirrors in order of preference, its size and SHA-256."""

    filename: str
    urls: tuple[str, ...]
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class BuiltIn:
    """A dataset dlbench knows by name."""

    name: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    class_names: tuple[str, ...]
    n_train: int
    n_test: int
    files: tuple[str, ...] = ()  # what must sit in one folder (IDX files also as .gz)
    dir_names: tuple[str, ...] = ()  # sub-folders of a data root that may hold the files
    remotes: tuple[Remote, ...] = ()
    archive_members: tuple[str, ...] = ()  # when the download is an archive: what to take out
    debian_package: str | None = None  # a Debian package that installs the files
    # The first ten training and test labels: MNIST and Fashion-MNIST share file names and
    # shapes, and only their labels tell a copy of one put where the other belongs.
    first_labels: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    summary: str = ""


FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR10_FILES = (
    *(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test_batch.bin",
)

# Fashion-MNIST's own address (plain http is all it serves; the hash is what we trust).
# Debian's dataset-fashion-mnist re-gzips the same IDX bytes without the file name in the gzip
# header, so its .gz files are 23-24 bytes shorter and hash differently (train images:
# b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7); both decompress to the
# same IDX data. Only downloads are hash-checked; local files are checked by their IDX headers.
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_FASHION_REMOTES = (
    Remote(
        "train-images-idx3-ubyte.gz",
        (_FASHION_URL + "train-images-idx3-ubyte.gz",),
        26421880,
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    ),
    Remote(
        "train-labels-idx1-ubyte.gz",
        (_FASHION_URL + "train-labels-idx1-ubyte.gz",),
        29515,
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    ),
    Remote(
        "t10k-images-idx3-ubyte.gz",
        (_FASHION_URL + "t10k-images-idx3-ubyte.gz",),
        4422102,
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    ),
    Remote(
        "t10k-labels-idx1-ubyte.gz",
        (_FASHION_URL + "t10k-labels-idx1-ubyte.gz",),
        5148,
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ),
)

# yann.lecun.com now refuses most downloads; these two mirrors serve the original files
# byte for byte (torchvision uses the first, TensorFlow Datasets the second).
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def _mnist_remote(filename: str, size_bytes: int, sha256: str) -> Remote:
    return Remote(filename, tuple(m + filename for m in _MNIST_MIRRORS), size_bytes, sha256)


_MNIST_REMOTES = (
    _mnist_remote(
        "train-images-idx3-ubyte.gz",
        9912422,
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    _mnist_remote(
        "train-labels-idx1-ubyte.gz",
        28881,
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    _mnist_remote(
        "t10k-images-idx3-ubyte.gz",
        1648877,
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    _mnist_remote(
        "t10k-labels-idx1-ubyte.gz",
        4542,
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
)

# The binary version (never the pickled one). The page also publishes MD5
# c32a1d4ab5d03f1284b67883e8d87530 for this archive; we check the SHA-256.
_CIFAR10_REMOTE = Remote(
    "cifar-10-binary.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
    170052171,
    "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
)

BUILTINS: dict[str, BuiltIn] = {
    b.name: b
    for b in (
        BuiltIn(
            name="fashion-mnist",
            input_shape=(1, 28, 28),
            class_names=FASHION_CLASSES,
            n_train=60000,
            n_test=10000,
            files=IDX_FILES,
            dir_names=("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"),
            remotes=_FASHION_REMOTES,
            debian_package="dataset-fashion-mnist",
            first_labels=((9, 0, 0, 3, 0, 2, 7, 2, 5, 5), (9, 2, 1, 1, 6, 1, 4, 6, 5, 7)),
            summary="Zalando's clothing images, 28x28 gray",
        ),
        BuiltIn(
            name="mnist",
            input_shape=(1, 28, 28),
            class_names=tuple(str(i) for i in range(10)),
            n_train=60000,
            n_test=10000,
            files=IDX_FILES,
            dir_names=("mnist", "MNIST/raw"),
            remotes=_MNIST_REMOTES,
            first_labels=((5, 0, 4, 1, 9, 2, 1, 3, 1, 4), (7, 2, 1, 0, 4, 1, 4, 9, 5, 9)),
            summary="handwritten digits, 28x28 gray",
        ),
        BuiltIn(
            name="cifar10",
            input_shape=(3, 32, 32),
            class_names=CIFAR10_CLASSES,
            n_train=50000,
            n_test=10000,
            files=CIFAR10_FILES,
            dir_names=("cifar10", "cifar-10-batches-bin", "cifar10/cifar-10-batches-bin"),
            remotes=(_CIFAR10_REMOTE,),
            archive_members=(
                *(f"cifar-10-batches-bin/{f}" for f in CIFAR10_FILES),
                "cifar-10-batches-bin/batches.meta.txt",
            ),
            summary="small photos in 10 classes, 32x32 RGB (binary version)",
        ),
        BuiltIn(
            name="digits",
            input_shape=(1, 8, 8),
            class_names=tuple(str(i) for i in range(10)),
            n_train=1438,
            n_test=359,
            summary="scikit-learn's 8x8 digits, offline; a fixed 80/20 split",
        ),
    )
}

# Spellings people type for the same datasets.
ALIASES = {
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}
