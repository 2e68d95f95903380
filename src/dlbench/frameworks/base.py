"""The protocol every framework adapter follows, and the records they return. Imports no framework.

An adapter (the packages `frameworks.torch`, `frameworks.keras`) exposes the same names:

- `devices() -> list[DeviceInfo]`: what the framework can see, and why a device is missing.
- `Trainer(run, data, device)`: builds the model; `fit(on_epoch, on_step)`, `evaluate(x, y)`,
  `predict(x)`, `save(path)`, `load(path)`, `snapshot()` and `restore(state)` (an in-memory
  copy of the weights, for `keep: best-val`), `activations(x, names)`.

The worker (runner/worker.py) drives a Trainer under the clocks of measure/.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlbench.errors import UserError
from dlbench.spec.layers import Act, Conv2d, Dense, Dropout, ModelSpec


class DeviceUnavailable(UserError):
    """A run asked for a device its framework cannot see; the message says why."""


@dataclass(frozen=True)
class DeviceInfo:
    framework: str
    device: str  # cpu, cuda:0, ...
    available: bool
    name: str = ""  # CPU model or GPU name
    memory_bytes: int | None = None
    reason: str = ""  # why it is missing, when it is


@dataclass(frozen=True)
class PreparedData:
    """Normalised float32 arrays, channels last (N, H, W, C), and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        _, h, w, c = self.x_train.shape
        return (c, h, w)


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float
    train_acc: float
    epoch_s: float  # training steps only, device synchronised
    val_loss: float | None = None
    val_acc: float | None = None
    val_s: float | None = None


@dataclass
class Evaluation:
    loss: float
    acc: float
    predictions: np.ndarray  # predicted class per sample


@dataclass
class TrainerOptions:
    """What a trainer actually did that changes speed; stored with the run."""

    values: dict[str, Any] = field(default_factory=dict)


OnEpoch = Callable[[EpochRecord], bool]  # return False to stop (divergence)
OnStep = Callable[[int, int, int], None]  # epoch, step, steps per epoch


def pin_to_cpus(threads: int | None) -> int:
    """Keep this process on its first `threads` allowed CPUs (XLA:CPU sizes its thread pool
    from them when JAX starts; it has no thread-count flag: jax-ml/jax#1539). Returns how many
    CPUs the process may use."""
    if not hasattr(os, "sched_setaffinity"):
        return os.cpu_count() or 1
    allowed = sorted(os.sched_getaffinity(0))
    if threads and threads < len(allowed):
        os.sched_setaffinity(0, allowed[:threads])
    return len(os.sched_getaffinity(0))


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order of training samples in an epoch: the same in every framework for one seed."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def first_batches(n: int, batch_size: int, seed: int, steps: int) -> Iterator[np.ndarray]:
    """Sample indices of the first `steps` training batches, in the order `fit` uses them."""
    done, epoch = 0, 1
    while done < steps:
        order = epoch_permutation(n, seed, epoch)
        for start in range(0, n, batch_size):
            if done == steps:
                return
            yield order[start : start + batch_size]
            done += 1
        epoch += 1


@dataclass(frozen=True)
class Head:
    """How the last activation and the loss combine, decided once for every framework.

    The network computes logits; `activation` turns them into the model's output. Softmax with
    cross-entropy and sigmoid with binary cross-entropy train on the logits (what Keras does for
    such outputs too, and numerically safer); any other output activation with cross-entropy is
    treated as Keras treats it: outputs normalised to sum to one, then -log of the true class.
    """

    activation: str  # the output activation: softmax, sigmoid, linear, ...
    loss: str  # crossentropy or binary-crossentropy
    units: int

    @property
    def mode(self) -> str:
        if self.loss == "binary-crossentropy":
            return "binary-logits"
        if self.activation in ("softmax", "linear"):
            return "softmax-logits"
        return "normalised-probabilities"


def head_for(spec: ModelSpec, loss: str, output_units: int, num_classes: int) -> Head:
    activation = spec.output_activation()
    if loss == "auto":
        loss = "binary-crossentropy" if output_units == 1 else "crossentropy"
    if loss == "binary-crossentropy":
        if output_units != 1 or num_classes != 2:
            raise UserError(
                f"{spec.name}: binary cross-entropy needs one output unit and two classes "
                f"(the model has {output_units} outputs, the data {num_classes} classes); "
                "use loss: crossentropy"
            )
        if activation not in ("sigmoid", "linear"):
            raise UserError(f"{spec.name}: binary cross-entropy needs a sigmoid or linear output")
    elif output_units != num_classes:
        raise UserError(
            f"{spec.name} has {output_units} outputs but the dataset has {num_classes} classes; "
            "make the last dense layer as wide as the number of classes"
        )
    return Head(activation=activation, loss=loss, units=output_units)


def strip_output_activation(spec: ModelSpec) -> tuple[list, str]:
    """The layers that compute the logits, and the output activation they feed.

    A trailing `activation` layer is removed; a trailing dense/conv keeps its affine map and
    loses its activation. Dropout after the output layer (report C's final model) stays.
    """
    layers = list(spec.layers)
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        if isinstance(layer, Dropout):
            continue
        if isinstance(layer, Act):
            return layers[:i] + layers[i + 1 :], layer.fn
        if isinstance(layer, (Dense, Conv2d)):
            act = layer.activation
            layers[i] = layer.model_copy(update={"activation": "linear"})
            return layers, act
        break
    return layers, "linear"


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted ones."""
    idx = y_true.astype(np.int64) * num_classes + y_pred.astype(np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
