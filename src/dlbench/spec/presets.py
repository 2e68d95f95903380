"""Named presets for every model in seed-workloads.md (reports A to E).

Each preset says where it comes from, the input it was built for, and what the report left
unsaid and dlbench chose. `dlbench list models` prints them with parameters and multiply-adds.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlbench.errors import UserError
from dlbench.spec.builders import cnn, mlp
from dlbench.spec.layers import (
    Act,
    BatchNorm,
    Conv2d,
    Dense,
    Dropout,
    Flatten,
    MaxPool,
    ModelSpec,
    Shape,
)

MNIST_SHAPE: Shape = (1, 28, 28)


@dataclass(frozen=True)
class Preset:
    name: str
    source: str  # which report and item
    input_shape: Shape  # what the report trained it on; a run uses its dataset's shape
    spec: ModelSpec
    note: str = ""  # what the report left unsaid and what dlbench chose


def _conv_bn_relu_pool(filters: int, kernel: int, padding: int) -> list:
    return [
        Conv2d(filters=filters, kernel=kernel, padding=padding),
        BatchNorm(),
        Act(fn="relu"),
        MaxPool(size=2),
    ]


def _report_c_cnn(widths: tuple[int, int], name: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        layers=(
            *_conv_bn_relu_pool(widths[0], 5, 2),
            *_conv_bn_relu_pool(widths[1], 5, 2),
            Flatten(),
            Dense(units=10, activation="softmax"),
        ),
    )


def _presets() -> list[Preset]:
    p = [
        Preset(
            "a-mlp",
            "report A 1: Keras/PyTorch MLP, MNIST and Fashion-MNIST",
            MNIST_SHAPE,
            mlp([128, 128], name="a-mlp"),
            "Adam, batch 32, 3 epochs, inputs L2-normalised per row in the report",
        ),
        Preset(
            "a-deep-mlp",
            "report A 2: deep MLP, 10 dense layers of 1024",
            MNIST_SHAPE,
            mlp([1024] * 10, name="a-deep-mlp"),
            "the report does not say whether its two 128-wide layers stayed: this is without "
            "them (10,260,490 parameters); a-deep-mlp-128 keeps them",
        ),
        Preset(
            "a-deep-mlp-128",
            "report A 2: deep MLP, keeping the two 128-wide layers",
            MNIST_SHAPE,
            mlp([128, 128] + [1024] * 10, name="a-deep-mlp-128"),
        ),
        Preset(
            "a-face-cnn",
            "report A 3: Keras face CNN, two people, grayscale",
            (1, 128, 128),
            ModelSpec(
                name="a-face-cnn",
                layers=(
                    Conv2d(filters=64, kernel=3, activation="relu"),
                    MaxPool(size=2),
                    Conv2d(filters=64, kernel=3, activation="relu"),
                    MaxPool(size=2),
                    Flatten(),
                    Dense(units=64),
                    Dropout(rate=0.1),
                    Dense(units=1, activation="sigmoid"),
                ),
            ),
            "IMG_SIZE is not given: 128x128 (faces' default); dense(64) has no activation in "
            "the report; one sigmoid output with binary cross-entropy for two classes",
        ),
        Preset(
            "a-torch-cnn",
            "report A 4: PyTorch CNN on Fashion-MNIST",
            MNIST_SHAPE,
            ModelSpec(
                name="a-torch-cnn",
                layers=(
                    Conv2d(filters=16, kernel=5, padding=2, activation="relu"),
                    MaxPool(size=2),
                    Conv2d(filters=32, kernel=5, padding=2, activation="relu"),
                    MaxPool(size=2),
                    Flatten(),
                    Dropout(rate=0.5),
                    Dense(units=10, activation="softmax"),
                ),
            ),
            "the listing is garbled; its head takes 32x7x7, so both convolutions are pooled",
        ),
    ]
    for budget, widths in (("50k", [50, 120]), ("100k", [100, 180]), ("200k", [200, 200])):
        p.append(
            Preset(
                f"b-fcn-{budget}",
                f"report B: FCN {budget.upper()} weight budget, hidden {widths}",
                MNIST_SHAPE,
                mlp(widths, batchnorm=True, name=f"b-fcn-{budget}"),
                "batch-norm after every hidden layer; the budget counts exclude it",
            )
        )
    for budget, chans, dense in (
        ("10k", [1, 10, 18], [8, 20, 10]),
        ("20k", [1, 20, 30], [9, 20, 10]),
        ("50k", [1, 25, 40], [20, 30, 10]),
        ("100k", [1, 40, 60], [25, 50, 10]),
    ):
        p.append(
            Preset(
                f"b-cnn-{budget}",
                f"report B: CNN {budget.upper()} weight budget, channels {chans}",
                MNIST_SHAPE,
                cnn(chans, dense, name=f"b-cnn-{budget}"),
                "kernel 3, padding 1, batch-norm, ReLU, 2x2 max-pool after each conv; batch-norm "
                "after the hidden dense layers too; the budget counts exclude batch-norm",
            )
        )
    p += [
        Preset(
            "c-keras-cnn",
            "report C K1/K2: Keras' MNIST example CNN (the likely one)",
            MNIST_SHAPE,
            ModelSpec(
                name="c-keras-cnn",
                layers=(
                    Conv2d(filters=32, kernel=3, activation="relu"),
                    Conv2d(filters=64, kernel=3, activation="relu"),
                    MaxPool(size=2),
                    Dropout(rate=0.25),
                    Flatten(),
                    Dense(units=128, activation="relu"),
                    Dropout(rate=0.5),
                    Dense(units=10, activation="softmax"),
                ),
            ),
            "the report does not show K1's layers; its slow climb suggests Adadelta at lr 0.001",
        ),
        Preset(
            "c-torch-cnn",
            "report C P1/P2: PyTorch CNN with batch-norm",
            MNIST_SHAPE,
            _report_c_cnn((16, 32), "c-torch-cnn"),
        ),
    ]
    for widths in ((32, 64), (48, 96), (64, 128)):
        name = f"c-torch-cnn-{widths[0]}-{widths[1]}"
        p.append(
            Preset(
                name,
                f"report C width study: channels {widths[0]}-{widths[1]}",
                MNIST_SHAPE,
                _report_c_cnn(widths, name),
            )
        )
    p += [
        Preset(
            "c-final-cnn",
            "report C final model",
            MNIST_SHAPE,
            ModelSpec(
                name="c-final-cnn",
                layers=(
                    *_conv_bn_relu_pool(32, 5, 2),
                    *_conv_bn_relu_pool(64, 5, 2),
                    Flatten(),
                    Dense(units=256, activation="relu"),
                    Dense(units=10),
                    Dropout(rate=0.5),
                    Act(fn="softmax"),
                ),
            ),
            "dropout after the last dense layer as in the report (rate not given: 0.5); its "
            "softmax was fed to a loss that applies softmax again, which dlbench does not repeat",
        ),
        Preset(
            "d-mlp",
            "report D: TensorFlow MLP on Fashion-MNIST",
            MNIST_SHAPE,
            mlp([128], output="linear", name="d-mlp"),
            "logits out, cross-entropy from logits; Adam, batch 32, 10 epochs, inputs /255",
        ),
        Preset(
            "e-ann",
            "report E: CIFAR-10 plain ANN",
            (3, 32, 32),
            mlp([3000, 1000], output="sigmoid", name="e-ann"),
            "sigmoid outputs with categorical cross-entropy on one-hot labels, as the report did",
        ),
    ]
    return p


PRESETS: dict[str, Preset] = {preset.name: preset for preset in _presets()}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, PRESETS, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UserError(
            f"unknown model {name!r}{hint}; `dlbench list models` shows the presets"
        ) from None
