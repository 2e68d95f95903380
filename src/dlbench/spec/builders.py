"""The two builders the reports used: an MLP from a list of widths, a CNN from channel lists."""

from __future__ import annotations

from collections.abc import Sequence

from dlbench.errors import UserError
from dlbench.spec.layers import (
    Act,
    Activation,
    BatchNorm,
    Conv2d,
    Dense,
    Dropout,
    Flatten,
    MaxPool,
    ModelSpec,
)


def _check_sizes(what: str, sizes: Sequence[int]) -> None:
    if not sizes:
        raise UserError(f"{what} is empty: give at least one size")
    bad = [s for s in sizes if not isinstance(s, int) or s <= 0]
    if bad:
        raise UserError(f"{what} has {bad}: every size must be a positive integer")


def mlp(
    widths: Sequence[int],
    *,
    classes: int = 10,
    activation: Activation = "relu",
    output: Activation = "softmax",
    batchnorm: bool = False,
    dropout: float = 0.0,
    name: str = "custom",
) -> ModelSpec:
    """flatten -> [dense(w, act) (-> batchnorm) (-> dropout)] per width -> dense(classes, output).

    With batch-norm, the hidden dense layers have no activation of their own: the order is
    dense -> batchnorm -> activation, as report B built it.
    """
    _check_sizes("mlp widths", widths)
    layers: list = [Flatten()]
    for w in widths:
        if batchnorm:
            layers += [Dense(units=w), BatchNorm(), Act(fn=activation)]
        else:
            layers.append(Dense(units=w, activation=activation))
        if dropout:
            layers.append(Dropout(rate=dropout))
    layers.append(Dense(units=classes, activation=output))
    return ModelSpec(layers=tuple(layers), name=name)


def cnn(
    conv_channels: Sequence[int],
    dense_sizes: Sequence[int],
    *,
    kernel: int = 3,
    padding: int | str = 1,
    pool: bool = True,
    batchnorm: bool = True,
    dropout: float = 0.0,
    activation: Activation = "relu",
    output: Activation = "softmax",
    name: str = "custom",
) -> ModelSpec:
    """Report B's builder: conv channels *including the input's* (e.g. [1, 20, 30]), each conv
    followed by batch-norm, the activation and a 2x2 max-pool; then flatten and the dense sizes,
    the last of which is the number of classes. The first dense layer infers its input size.

    The input channel count is checked against the dataset when the run's shapes are inferred.
    """
    _check_sizes("cnn conv_channels", conv_channels)
    _check_sizes("cnn dense_sizes", dense_sizes)
    if len(conv_channels) < 2:
        raise UserError(
            "cnn conv_channels lists the input channels first, then each conv's output "
            "channels: give at least two, e.g. [1, 20, 30]"
        )
    layers: list = []
    for out in conv_channels[1:]:
        if batchnorm:
            layers += [Conv2d(filters=out, kernel=kernel, padding=padding), BatchNorm()]
            layers.append(Act(fn=activation))
        else:
            layers.append(
                Conv2d(filters=out, kernel=kernel, padding=padding, activation=activation)
            )
        if pool:
            layers.append(MaxPool(size=2))
    layers.append(Flatten())
    if dropout:
        layers.append(Dropout(rate=dropout))
    for size in dense_sizes[:-1]:
        if batchnorm:
            layers += [Dense(units=size), BatchNorm(), Act(fn=activation)]
        else:
            layers.append(Dense(units=size, activation=activation))
    layers.append(Dense(units=dense_sizes[-1], activation=output))
    return ModelSpec(layers=tuple(layers), name=name, input_channels=conv_channels[0])


BUILDERS = {"mlp": mlp, "cnn": cnn}
