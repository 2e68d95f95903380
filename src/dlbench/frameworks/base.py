"""The interface every framework adapter implements, and the records they return. Imports no
framework.

An adapter is a package under frameworks/ (`frameworks.torch`, `frameworks.keras`) that the
registry (frameworks/__init__.py) imports in a run's own process. What it provides is written
down once, below, as two Protocols: `Adapter` (the package: devices, versions, the Trainer
class) and `Trainer` (one run's model: fit, evaluate, predict, weights, activations);
tests/frameworks/test_protocol.py checks that both adapters provide every member with a
compatible signature. The head (`Head`) decides the loss and reads the logits the same way for
every framework. The worker (runner/worker.py) drives a Trainer under the clocks of measure/.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dlbench.data.prepared import PreparedData  # defined in data/ (below), re-exported here
from dlbench.errors import UserError
from dlbench.measure.clock import SyncClock
from dlbench.spec.layers import Act, Conv2d, Dense, Dropout, ModelSpec
from dlbench.spec.run import RunSpec


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


OnEpoch = Callable[[EpochRecord], bool]  # return False to stop (divergence)
OnStep = Callable[[int, int, int], None]  # epoch, step, steps per epoch


class Trainer(Protocol):
    """One run's model in one framework, built from the run's spec on one device."""

    run: RunSpec
    data: PreparedData
    head: Head
    clock: SyncClock  # reads after the device finished: the worker times test_s with it
    compile_s: float  # what warm_up took
    options: dict[str, Any]  # what it did that changes speed; stored with the run

    def __init__(self, run: RunSpec, data: PreparedData, device: str) -> None: ...

    def warm_up(self) -> float:
        """Trace and compile before the clock, everything it changed restored; seconds taken."""
        ...

    def fit(self, on_epoch: OnEpoch, on_step: OnStep | None = None) -> None:
        """Train `run.epochs` epochs over `data.x_train` in `epoch_permutation` order."""
        ...

    def step_losses(self, steps: int) -> list[float]:
        """Each of the first `steps` batches' mean loss before its update (the parity check)."""
        ...

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> Evaluation: ...

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes); for one sigmoid unit, (N, 2)."""
        ...

    def peak_device_bytes(self) -> int | None:
        """The most GPU memory the run held; None on a CPU or where the framework cannot say."""
        ...

    def snapshot(self) -> Any:
        """An in-memory copy of the weights (for `keep: best-val`), for `restore`."""
        ...

    def restore(self, state: Any) -> None: ...

    def save(self, path: Path) -> None: ...

    def load(self, path: Path) -> None: ...

    def activations(self, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        """Outputs of the named layers (after their activation) in torch's layout (NCHW)."""
        ...


class Adapter(Protocol):
    """An adapter package, as `frameworks.adapter(name)` returns it."""

    WEIGHTS_SUFFIX: str  # what `Trainer.save` writes: the artifacts' weights file ends so
    # Modules a run imports beyond the adapter's own (on first use, inside building or
    # training): the worker imports them with the adapter, so import_s holds them, not build_s.
    RUN_IMPORTS: tuple[str, ...]
    Trainer: type[Trainer]

    def devices(self) -> list[DeviceInfo]:
        """What the framework can see, and why a device is missing."""
        ...

    def versions(self) -> dict[str, str]:
        """The framework's packages and versions, stored with every run."""
        ...

    def device_details(self, name: str) -> dict[str, object]:
        """The device a run used, as the framework sees it: stored in the run's fingerprint."""
        ...


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

    # What follows reads the logits the adapters return (N, units), the same for every framework.
    def classes(self, logits):
        """The predicted class of each sample, int64 (the activations keep the logits' order).
        Written to work on numpy arrays and torch tensors alike: the torch trainer counts
        correct predictions on the device with it."""
        if self.mode == "binary-logits":
            return (logits.reshape(-1) > 0) * 1  # bool * 1: int64 in numpy and torch
        return logits.argmax(1)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """Labels as a loss on the logits takes them: a float column for one sigmoid unit."""
        if self.mode == "binary-logits":
            return y.astype(np.float32).reshape(-1, 1)
        return y.astype(np.int64)

    def mean_loss(self, logits: np.ndarray, y: np.ndarray) -> float:
        """Mean loss over samples from the logits, in float64 (test and validation figures)."""
        z = logits.astype(np.float64)
        y = y.astype(np.int64)
        if self.mode == "binary-logits":
            z = z.reshape(-1)
            t = y.astype(np.float64)
            return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))
        if self.mode == "softmax-logits":
            top = z.max(axis=1, keepdims=True)
            lse = (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]
            return float(np.mean(lse - z[np.arange(len(z)), y]))
        # Keras' categorical cross-entropy on a non-softmax output: normalised, clipped, -log
        p = self.probabilities(z)
        p_true = np.clip(p[np.arange(len(p)), y], 1e-7, 1 - 1e-7)
        return float(np.mean(-np.log(p_true)))

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes), float64; for one sigmoid unit, (N, 2)."""
        z = logits.astype(np.float64)
        if self.mode == "binary-logits":
            p1 = 1.0 / (1.0 + np.exp(-z.reshape(-1)))
            return np.stack([1 - p1, p1], axis=1)
        if self.mode == "softmax-logits":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        out = _ACTIVATIONS[self.activation](z)
        return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-7)

    def evaluation(self, logits: np.ndarray, y: np.ndarray) -> Evaluation:
        """Loss, accuracy and predicted classes of the logits of samples labelled `y`."""
        pred = np.asarray(self.classes(logits), dtype=np.int64)
        if not len(y):
            return Evaluation(math.nan, math.nan, pred)
        return Evaluation(self.mean_loss(logits, y), float((pred == y).sum()) / len(y), pred)


# The output activations a normalised-probabilities head applies, in float64 numpy, with the
# constants Keras and PyTorch use (ELU's alpha 1, exact GELU).
_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "gelu": lambda z: 0.5 * z * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0))),
}


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
