"""Keras 3 adapter (`keras-tf`, `keras-jax`, `keras-torch`): the same model, trained with `fit`.

Keras reads its backend once, at import: runner/process.py sets `KERAS_BACKEND` in the run's own
process before anything imports Keras, and the Trainer refuses to run on any other backend.

What Keras users run is `model.fit`, so training is `model.fit`, with these choices (each one in
docs/fairness.md, and every speed-relevant one in `Trainer.options`):
- batches come from a `keras.utils.PyDataset` that slices the epoch's permutation of the
  training set (`epoch_permutation`, the order every framework uses), with `shuffle=False`:
  Keras' own shuffling would give other batches than PyTorch's;
- one `fit` call for all epochs; a callback reads the synchronised clock at the start of each
  epoch and at the start of validation, so `epoch_s` is the training steps only, and validation
  (`validation_data`, inside `fit` as Keras users write it) is timed apart as `val_s`;
- `verbose=0` and no per-batch callback work: the progress bar, or any callback that reads a
  batch's logs, syncs the host with the device on every step;
- `default` tuning: Keras' defaults (`jit_compile="auto"`, `steps_per_execution=1`);
  `tuned`: `steps_per_execution` steps per call and XLA (`jit_compile=True`) where it is
  faster (`tuned_jit`: JAX; TensorFlow except convolutions on a CPU; never torch, where it
  means torch.compile and where Keras refuses `steps_per_execution > 1`).
The network outputs logits, as in torch_backend, and the loss takes them (see `Head`).
"""

from __future__ import annotations

import math
import os
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dlbench.errors import UserError
from dlbench.frameworks import entry
from dlbench.frameworks.base import (
    DeviceInfo,
    DeviceUnavailable,
    EpochRecord,
    Evaluation,
    Head,
    OnEpoch,
    OnStep,
    PreparedData,
    epoch_permutation,
    first_batches,
    head_for,
    pin_to_cpus,
    strip_output_activation,
)
from dlbench.frameworks.initializers import sample, shared_weights
from dlbench.measure.clock import SyncClock
from dlbench.measure.fingerprint import cpu_model
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
    layer_names,
    summarize,
)
from dlbench.spec.run import RunSpec

BACKEND = keras.backend.backend()  # tensorflow, jax or torch: fixed for this process
FRAMEWORK = {"tensorflow": "keras-tf", "jax": "keras-jax", "torch": "keras-torch"}.get(BACKEND, "")
EVAL_BATCH = 1024  # as torch_backend: evaluation has no gradients, a larger batch changes nothing
STEP_REPORT_S = 0.5  # how often the progress bar hears where the epoch is
TUNED_STEPS_PER_EXECUTION = 32  # steps per train-function call in `tuned` (a tf.while on TF)
WEIGHTS_SUFFIX = ".weights.h5"  # Keras' save_weights accepts no other name


# -- devices ---------------------------------------------------------------------------------
def devices() -> list[DeviceInfo]:
    """The CPU and every GPU this backend sees, or one row saying why it sees none."""
    found = [DeviceInfo(FRAMEWORK, "cpu", True, cpu_model())]
    gpus = _gpus()
    if gpus:
        found += [
            DeviceInfo(FRAMEWORK, f"cuda:{i}", True, name, mem)
            for i, (name, mem) in enumerate(gpus)
        ]
    else:
        found.append(DeviceInfo(FRAMEWORK, "cuda", False, reason=_no_gpu_reason()))
    return found


def _gpus() -> list[tuple[str, int | None]]:
    """(name, memory bytes or None) per GPU, without starting the backend's runtime on TF."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        out = []
        for dev in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(dev)
            out.append((details.get("device_name", dev.name), None))
        return out
    if BACKEND == "jax":
        import jax

        try:
            gpus = jax.devices("gpu")
        except RuntimeError:
            return []
        out = []
        for dev in gpus:
            stats = dev.memory_stats() or {}
            out.append((dev.device_kind, stats.get("bytes_limit")))
        return out
    import torch

    return (
        [
            (
                torch.cuda.get_device_properties(i).name,
                torch.cuda.get_device_properties(i).total_memory,
            )
            for i in range(torch.cuda.device_count())
        ]
        if torch.cuda.is_available()
        else []
    )


def _no_gpu_reason() -> str:
    if BACKEND == "tensorflow":
        import tensorflow as tf

        if not tf.test.is_built_with_cuda():
            return f"tensorflow {tf.__version__} is a CPU-only build (tensorflow-cpu)"
        return f"tensorflow {tf.__version__} (CUDA build) finds no GPU or driver"
    if BACKEND == "jax":
        from importlib.util import find_spec

        import jaxlib

        if not any(find_spec(p) for p in ("jax_cuda12_plugin", "jax_cuda13_plugin")):
            return f"jaxlib {jaxlib.__version__} is CPU-only (pip install 'jax[cuda12]' for a GPU)"
        return f"jaxlib {jaxlib.__version__} with its CUDA plugin finds no GPU or driver"
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no GPU or driver"


def keras_device(name: str) -> str:
    """dlbench's device name (cpu, cuda, cuda:N) as `keras.device` spells it; fails fast."""
    if name == "cpu":
        return "cpu"  # not "cpu:0": keras-torch then copies every weight off its leaf
    index = 0 if name == "cuda" else int(name.split(":", 1)[1])
    count = len(_gpus())
    if count == 0:
        raise DeviceUnavailable(f"device {name}: {_no_gpu_reason()}; use --device cpu")
    if index >= count:
        raise DeviceUnavailable(
            f"device {name}: {FRAMEWORK} sees {count} GPU(s); use cuda:0 to cuda:{count - 1}"
        )
    return f"gpu:{index}"


def versions() -> dict[str, str]:
    info = {"keras": keras.__version__, "keras_backend": BACKEND}
    if BACKEND == "tensorflow":
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
    elif BACKEND == "jax":
        import jax
        import jaxlib

        info.update(jax=jax.__version__, jaxlib=jaxlib.__version__)
    else:
        import torch

        info["torch"] = torch.__version__
        if torch.version.cuda:
            info["cuda"] = torch.version.cuda
    return info


def check_backend(framework: str) -> None:
    """The run's framework must be the backend Keras loaded: it cannot change after import."""
    want = entry(framework).env.get("KERAS_BACKEND")
    if want != BACKEND:
        raise UserError(
            f"{framework} needs Keras' {want} backend, but Keras in this process loaded "
            f"{BACKEND}: Keras reads KERAS_BACKEND once, at import; run it with `dlbench run`, "
            f"which starts each run in a process of its own with KERAS_BACKEND={want}"
        )


# -- threads ---------------------------------------------------------------------------------
def apply_threads(threads: int | None) -> dict[str, Any]:
    """Limit the backend's CPU threads to `threads` (None: every core); return what it uses."""
    cores = os.cpu_count() or 1
    if BACKEND == "tensorflow":
        import tensorflow as tf

        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
            except RuntimeError:  # the runtime already started: the env of child_env applies
                pass
        # 0 means TensorFlow's default: one thread per core.
        intra = tf.config.threading.get_intra_op_parallelism_threads() or cores
        inter = tf.config.threading.get_inter_op_parallelism_threads() or cores
        return {"threads": intra, "tf_intra_op_threads": intra, "tf_inter_op_threads": inter}
    if BACKEND == "jax":
        # pinned before JAX's first computation, which sizes XLA:CPU's thread pool
        used = pin_to_cpus(threads)
        return {"threads": used, "xla_cpu_threads": used, "cpu_affinity": used}
    import torch

    torch.set_num_threads(threads or cores)
    return {"threads": torch.get_num_threads()}


# -- the model -------------------------------------------------------------------------------
def _flatten_order(shape: Shape) -> np.ndarray | None:
    """Keras flattens (H, W, C) where PyTorch flattens (C, H, W): feature j of Keras' flat
    vector is feature order[j] of the canonical (channels-first) one."""
    if len(shape) != 3:
        return None
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


def _same_is_exact(layer: Conv2d) -> bool:
    # Keras' "same" pads (k-1)/2 on each side for stride 1 and odd k: PyTorch's padding k//2.
    return layer.stride == 1 and layer.kernel % 2 == 1 and layer.pad_pixels() == layer.kernel // 2


class Built:
    """A Keras network up to its logits, and how canonical weights map onto it."""

    def __init__(self, spec: ModelSpec, input_shape: Shape) -> None:
        layers, self.output_activation = strip_output_activation(spec)
        self.full_spec, self.input_shape = spec, tuple(input_shape)
        self.spec = spec.model_copy(update={"layers": tuple(layers)})
        summary = summarize(self.spec, input_shape)
        c, h, w = input_shape
        self.model = keras.Sequential(name=spec.name.replace(" ", "_") or "model")
        self.model.add(keras.Input((h, w, c)))
        # Per layer: its canonical input shape and, after a flatten, Keras' order of the flat
        # features it takes in and gives out (its weights and outputs are permuted by them).
        self.in_shape: dict[str, Shape] = {}
        self.in_order: dict[str, np.ndarray] = {}
        self.out_order: dict[str, np.ndarray] = {}
        shape: Shape = tuple(input_shape)
        order = None
        for name, layer, info in zip(layer_names(self.spec), layers, summary.layers, strict=True):
            self.in_shape[name] = shape
            if order is not None:
                self.in_order[name] = order
            self.model.add(self._layer(name, layer))
            if isinstance(layer, Flatten):
                order = _flatten_order(shape)
            elif not isinstance(layer, (Dropout, Act, BatchNorm)):
                order = None
            if order is not None:
                self.out_order[name] = order
            shape = info.output_shape
        self.output_shape = shape

    def _layer(self, name: str, layer) -> keras.layers.Layer:
        if isinstance(layer, Flatten):
            return keras.layers.Flatten(name=name)
        if isinstance(layer, Dense):
            return keras.layers.Dense(
                layer.units, activation=layer.activation, use_bias=layer.bias, name=name
            )
        if isinstance(layer, Conv2d):
            pad = layer.pad_pixels()
            if pad and not _same_is_exact(layer):
                # Explicit pixels: pad with zeros, then a "valid" convolution (PyTorch's padding).
                self.model.add(keras.layers.ZeroPadding2D(pad, name=f"{name}_pad"))
            return keras.layers.Conv2D(
                layer.filters,
                layer.kernel,
                strides=layer.stride,
                padding="same" if pad and _same_is_exact(layer) else "valid",
                activation=layer.activation,
                use_bias=layer.bias,
                name=name,
            )
        if isinstance(layer, MaxPool):
            return keras.layers.MaxPooling2D(
                layer.size, strides=layer.stride or layer.size, name=name
            )
        if isinstance(layer, BatchNorm):
            # PyTorch: running = (1 - m) * running + m * batch; Keras: the other way round.
            return keras.layers.BatchNormalization(
                axis=-1, momentum=1.0 - layer.momentum, epsilon=layer.eps, name=name
            )
        if isinstance(layer, Dropout):
            return keras.layers.Dropout(layer.rate, name=name)
        if isinstance(layer, Act):
            return keras.layers.Activation(layer.fn, name=name)
        raise TypeError(f"no Keras layer for {layer!r}")

    @property
    def trainable_params(self) -> int:
        return int(sum(np.prod(v.shape) for v in self.model.trainable_weights))

    def load_canonical(self, weights: dict[str, dict[str, np.ndarray]]) -> None:
        """Load weights in torch's layout ({name: {"weight", "bias"}}) into the Keras layers."""
        for name, arrays in weights.items():
            layer = self.model.get_layer(name)
            current = layer.get_weights()
            order = self.in_order.get(name)
            w, b = arrays["weight"], arrays.get("bias")
            if isinstance(layer, keras.layers.Dense):
                kernel = w.T  # (out, in) -> (in, out)
                new = [kernel[order] if order is not None else kernel]
            elif isinstance(layer, keras.layers.Conv2D):
                new = [w.transpose(2, 3, 1, 0)]  # (out, in, kh, kw) -> (kh, kw, in, out)
            else:  # batch-norm: scale and shift; the moving statistics keep their start values
                new = [w[order] if order is not None else w]
            if b is not None and len(current) > 1:
                new.append(
                    b[order]
                    if order is not None and isinstance(layer, keras.layers.BatchNormalization)
                    else b
                )
            layer.set_weights(new + current[len(new) :])

    def initialise(self, run: RunSpec) -> None:
        """Apply the run's initialiser; `framework-default` leaves Keras' own (Glorot-uniform
        kernels, zero biases). Named schemes draw the same numbers as torch_backend does."""
        if run.init == "framework-default":
            return
        if run.init == "shared":
            self.load_canonical(
                shared_weights(self.full_spec, self.input_shape, run.effective_seed)
            )
            return
        rng = np.random.default_rng([run.effective_seed, 0x1417])  # torch_backend's stream
        weights = {}
        for name, layer in zip(layer_names(self.spec), self.spec.layers, strict=True):
            shape = self.in_shape[name]
            if isinstance(layer, Dense):
                canon = (layer.units, shape[0])
            elif isinstance(layer, Conv2d):
                canon = (layer.filters, shape[0], layer.kernel, layer.kernel)
            else:
                continue
            bias = np.zeros(canon[0], np.float32) if layer.bias else None
            weights[name] = {"weight": sample(run.init, canon, rng), "bias": bias}
        self.load_canonical(weights)

    def to_canonical(self, name: str, out: np.ndarray) -> np.ndarray:
        """A layer's output in torch's layout: NCHW, and flat features in channels-first order."""
        if out.ndim == 4:
            return out.transpose(0, 3, 1, 2)
        order = self.out_order.get(name)
        if order is None:
            return out
        canon = np.empty_like(out)
        canon[:, order] = out
        return canon


def build_model(spec: ModelSpec, input_shape: Shape) -> Built:
    return Built(spec, input_shape)


# -- optimizer and loss ----------------------------------------------------------------------
def make_optimizer(run: RunSpec) -> keras.optimizers.Optimizer:
    """The same algorithm as torch_backend.make_optimizer; docs/fairness.md has each mapping.

    SGD: Keras keeps v = m*v - lr*g, p += v; PyTorch b = m*b + g, p -= lr*b: the same steps
    for a constant learning rate (v = -lr*b). Adam: Keras adds epsilon to sqrt(v) before the
    bias correction, PyTorch after it, so Keras' epsilon acts like PyTorch's divided by
    sqrt(1 - beta2^t): 32x larger at step 1, the same after a few thousand steps; no constant
    makes them equal, and early steps differ where gradients are tiny. Adadelta: the same.
    """
    if run.optimizer == "adam":
        return keras.optimizers.Adam(run.lr, beta_1=0.9, beta_2=0.999, epsilon=run.eps)
    if run.optimizer == "sgd":
        return keras.optimizers.SGD(run.lr, momentum=run.momentum)
    return keras.optimizers.Adadelta(run.lr, rho=0.95, epsilon=run.eps)


class _ProbabilityCrossEntropy(keras.losses.Loss):
    """Categorical cross-entropy on a non-softmax output (report E's sigmoid), from the logits:
    outputs normalised to sum to one, the true class's clipped to [1e-7, 1 - 1e-7], -log; the
    formula of Keras' JAX and torch backends and of torch_backend. Written out rather than
    calling Keras' loss, because Keras' TensorFlow backend finds the logits a sigmoid leaves on
    its output (`_keras_logits`) and computes a softmax cross-entropy of them instead, so the
    same Keras model would train differently on TensorFlow (docs/fairness.md)."""

    def __init__(self, activation: str) -> None:
        super().__init__(name="probability_crossentropy")
        self.activation = activation

    def call(self, y_true, y_pred):
        ops = keras.ops
        out = keras.activations.get(self.activation)(y_pred)
        p = out / ops.maximum(ops.sum(out, axis=-1, keepdims=True), 1e-7)
        y = ops.cast(ops.reshape(y_true, (-1, 1)), "int32")
        p_true = ops.take_along_axis(p, y, axis=-1)[:, 0]
        return -ops.log(ops.clip(p_true, 1e-7, 1.0 - 1e-7))


def make_loss(head: Head) -> tuple[keras.losses.Loss, keras.metrics.Metric]:
    if head.mode == "binary-logits":
        return (
            keras.losses.BinaryCrossentropy(from_logits=True),
            keras.metrics.BinaryAccuracy(name="acc", threshold=0.0),
        )  # logit > 0 <=> p > 0.5
    loss = (
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if head.mode == "softmax-logits"
        else _ProbabilityCrossEntropy(head.activation)
    )
    return loss, keras.metrics.SparseCategoricalAccuracy(name="acc")


def numpy_loss(head: Head, logits: np.ndarray, y: np.ndarray) -> float:
    """Mean loss over samples from the logits, in float64 (test and validation figures)."""
    z = logits.astype(np.float64)
    if head.mode == "binary-logits":
        z = z.reshape(-1)
        t = y.astype(np.float64)
        return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))
    if head.mode == "softmax-logits":
        top = z.max(axis=1, keepdims=True)
        lse = (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]
        return float(np.mean(lse - z[np.arange(len(z)), y]))
    out = _activate(head.activation, z)
    p = out / np.maximum(out.sum(axis=1, keepdims=True), 1e-7)
    p_true = np.clip(p[np.arange(len(p)), y], 1e-7, 1 - 1e-7)
    return float(np.mean(-np.log(p_true)))


def _activate(activation: str, z: np.ndarray) -> np.ndarray:
    out = keras.activations.get(activation)(keras.ops.convert_to_tensor(z.astype(np.float32)))
    return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)


def probabilities(head: Head, logits: np.ndarray) -> np.ndarray:
    """Class probabilities (N, classes) as torch_backend.predict gives them."""
    z = logits.astype(np.float64)
    if head.mode == "binary-logits":
        p1 = 1.0 / (1.0 + np.exp(-z.reshape(-1)))
        return np.stack([1 - p1, p1], axis=1)
    if head.mode == "softmax-logits":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    out = _activate(head.activation, z)
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-7)


def tuned_jit(spec: ModelSpec, where: str) -> tuple[bool, str]:
    """XLA for `tuned`, where it is faster: always on JAX (its only compiler), never on torch
    (it would mean torch.compile), and on TensorFlow unless the model convolves on a CPU, where
    XLA:CPU's convolutions were 7x slower than TensorFlow's oneDNN kernels (a-torch-cnn, 2
    cores) while an MLP gains 1.6x."""
    if BACKEND == "torch":
        return False, "jit_compile means torch.compile on keras-torch: off"
    if BACKEND == "jax":
        return True, "JAX always compiles with XLA"
    if where == "cpu" and any(isinstance(layer, Conv2d) for layer in spec.layers):
        return False, "XLA:CPU convolutions are slower than TensorFlow's oneDNN kernels"
    return True, "XLA"


# -- data ------------------------------------------------------------------------------------
class EpochBatches(keras.utils.PyDataset):
    """The training set in batches, in the epoch's permutation: the same batches as every other
    framework. Slices of arrays in memory need no worker threads; `set_epoch` picks the order."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.set_epoch(1)

    def set_epoch(self, epoch: int) -> None:
        self.order = epoch_permutation(len(self.x), self.seed, epoch)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, i: int):
        idx = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        return self.x[idx], self.y[idx]


# -- the trainer -----------------------------------------------------------------------------
class _EpochClock(keras.callbacks.Callback):
    """Per-epoch records from inside `fit`: training time from the start of the epoch to the
    start of validation (or the end of the epoch), validation timed apart. No batch-end hook,
    so Keras never has to turn a step's logs into Python numbers (a device sync) for us."""

    def __init__(
        self, trainer: Trainer, batches: EpochBatches, on_epoch: OnEpoch, on_step: OnStep | None
    ) -> None:
        super().__init__()
        self.trainer, self.batches = trainer, batches
        self.on_epoch_cb, self.on_step_cb = on_epoch, on_step
        self.steps = len(batches)
        self.epoch = 0
        self.start = self.train_end = self.val_start = 0.0
        self.val_s: float | None = None
        self.last_report = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.batches.set_epoch(self.epoch)  # before the epoch's iterator exists
        self.train_end, self.val_s = 0.0, None
        self.last_report = time.perf_counter()
        self.start = self.trainer.clock.now()

    def on_train_batch_begin(self, batch, logs=None):
        if self.on_step_cb and time.perf_counter() - self.last_report > STEP_REPORT_S:
            self.on_step_cb(self.epoch, batch + 1, self.steps)  # host-side count: no sync
            self.last_report = time.perf_counter()

    def on_test_begin(self, logs=None):
        self.train_end = self.val_start = self.trainer.clock.now()

    def on_test_end(self, logs=None):
        self.val_s = self.trainer.clock.now() - self.val_start

    def on_epoch_end(self, epoch, logs=None):
        end = self.train_end or self.trainer.clock.now()
        logs = logs or {}
        record = EpochRecord(
            self.epoch,
            float(logs.get("loss", math.nan)),
            float(logs.get("acc", math.nan)),
            end - self.start,
        )
        if "val_loss" in logs:
            record.val_loss, record.val_acc = float(logs["val_loss"]), float(logs["val_acc"])
            record.val_s = self.val_s
        if not self.on_epoch_cb(record):  # the worker stops a diverged run here
            self.model.stop_training = True


def _read(variables) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v.value) for v in variables]


def _write(variables, values: list[np.ndarray]) -> None:
    for v, value in zip(variables, values, strict=True):
        v.assign(value)


class Trainer:
    """Builds the Keras model for one run and trains, evaluates and predicts with it."""

    def __init__(self, run: RunSpec, data: PreparedData, device: str) -> None:
        check_backend(run.framework)
        self.run = run
        self.data = data
        threads = apply_threads(run.threads)  # before the backend's first computation
        self.device = device
        self.keras_device = keras_device(device)
        keras.utils.set_random_seed(run.effective_seed)
        self.spec = run.model_spec()
        out_units = summarize(self.spec, data.input_shape).output_units
        self.head = head_for(self.spec, run.loss, out_units, data.num_classes)
        # keras-torch has neither: jit_compile means torch.compile there, and Keras refuses
        # steps_per_execution > 1 on torch. Its `tuned` is its `default`.
        tuned = run.tuning == "tuned" and BACKEND != "torch"
        with self._on_device():
            self.built = build_model(self.spec, data.input_shape)
            self.model = self.built.model
            self.built.initialise(run)
            loss, metric = make_loss(self.head)
            jit, self.jit_reason = (
                tuned_jit(self.spec, self.keras_device)
                if tuned
                else ("auto", "Keras' default (auto)")
            )
            self.model.compile(
                optimizer=make_optimizer(run),
                loss=loss,
                metrics=[metric],
                jit_compile=jit,
                steps_per_execution=TUNED_STEPS_PER_EXECUTION if tuned else 1,
            )
            # Optimizer slots now, so that warm_up can restore them to their start values.
            self.model.optimizer.build(self.model.trainable_variables)
        self.clock = SyncClock(self._sync)
        self.compile_s = 0.0
        self.options: dict[str, Any] = {
            "keras_backend": BACKEND,
            **threads,
            "tuning": run.tuning,
            "jit_compile": bool(self.model.jit_compile),
            "jit_compile_why": self.jit_reason,
            "steps_per_execution": self.model.steps_per_execution,
            "train_loop": "model.fit, one call for all epochs, verbose=0",
            "batches": "PyDataset over the epoch permutation, shuffle=False",
            "data_on_device": False,
            "validation": "inside fit (validation_data), timed apart",
            "eval_batch": EVAL_BATCH,
            "head": self.head.mode,
            "device_name": self._device_name(),
        }
        if BACKEND == "tensorflow":
            self.options["tf_onednn"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")

    # -- device helpers ------------------------------------------------------------------
    def _on_device(self) -> AbstractContextManager:
        return keras.device(self.keras_device)

    def _device_name(self) -> str:
        if self.keras_device.startswith("cpu"):
            return cpu_model()
        return _gpus()[int(self.keras_device.split(":")[1])][0]

    def _sync(self) -> None:
        """Wait for the device: the clock reads after the work, not after its launch."""
        if BACKEND == "jax":
            # JAX dispatches asynchronously even on the CPU. Every output of a jitted step is
            # ready together, so waiting for the weights waits for the last step.
            import jax

            # (Inside fit, Keras detaches the weights from the variables until the epoch ends.)
            values = [getattr(v, "_value", None) for v in self.model.trainable_variables]
            jax.block_until_ready([v for v in values if v is not None])
        elif self.keras_device.startswith("gpu"):
            if BACKEND == "tensorflow":
                import tensorflow as tf

                tf.test.experimental.sync_devices()
            else:
                import torch

                torch.cuda.synchronize()

    def _labels(self, y: np.ndarray) -> np.ndarray:
        if self.head.mode == "binary-logits":
            return y.astype(np.float32).reshape(-1, 1)
        return y.astype(np.int64)

    # -- training -------------------------------------------------------------------------
    def _state(self) -> list[np.ndarray]:
        """Weights, batch-norm statistics and optimizer slots (warm-up restores all of them)."""
        return _read(self.model.variables + self.model.optimizer.variables)

    def _restore(self, state: list[np.ndarray]) -> None:
        _write(self.model.variables + self.model.optimizer.variables, state)

    def warm_up(self) -> float:
        """Trace and compile before the clock: one throw-away `fit` over a full batch and the
        epoch's last, shorter one, then one `predict` of each evaluation shape; every weight,
        optimizer slot and random-generator state is restored afterwards."""
        n, bs = len(self.data.x_train), self.run.batch_size
        if n == 0:
            return 0.0  # a restored model (frameworks/restore.py) has no training data
        sizes = [min(bs, n)] + ([n % bs] if n % bs and n > bs else [])
        state = self._state()
        start = self.clock.now()
        with self._on_device():
            idx = np.concatenate([np.arange(s) for s in sizes])
            x = self.data.x_train[idx]
            y = self._labels(self.data.y_train[idx])
            warm = _Slices(x, y, sizes)
            val = None
            if len(self.data.x_val):
                val = (self.data.x_val[:EVAL_BATCH], self._labels(self.data.y_val[:EVAL_BATCH]))
            self.model.fit(
                warm,
                epochs=1,
                shuffle=False,
                verbose=0,
                validation_data=val,
                validation_batch_size=EVAL_BATCH,
            )
            for m in {
                min(EVAL_BATCH, len(self.data.x_test)),
                len(self.data.x_test) % EVAL_BATCH,
            } - {0}:
                self.model.predict(self.data.x_test[:m], batch_size=EVAL_BATCH, verbose=0)
        self.compile_s = self.clock.now() - start
        self._restore(state)
        self.model.reset_metrics()
        return self.compile_s

    def fit(self, on_epoch: OnEpoch, on_step: OnStep | None = None) -> None:
        batches = EpochBatches(
            self.data.x_train,
            self._labels(self.data.y_train),
            self.run.batch_size,
            self.run.effective_seed,
        )
        val = None
        if len(self.data.x_val):
            val = (self.data.x_val, self._labels(self.data.y_val))
        recorder = _EpochClock(self, batches, on_epoch, on_step)
        with self._on_device():
            self.model.fit(
                batches,
                epochs=self.run.epochs,
                shuffle=False,
                verbose=0,
                validation_data=val,
                validation_batch_size=EVAL_BATCH,
                callbacks=[recorder],
            )

    def step_losses(self, steps: int) -> list[float]:
        """Train `steps` batches in fit's order, one `train_on_batch` each (the train step
        `fit` runs), and return each batch's mean loss before its update: the parity check."""
        losses = []
        y = self._labels(self.data.y_train)
        with self._on_device():
            for idx in first_batches(
                len(self.data.x_train), self.run.batch_size, self.run.effective_seed, steps
            ):
                logs = self.model.train_on_batch(self.data.x_train[idx], y[idx], return_dict=True)
                losses.append(float(logs["loss"]))
        return losses

    # -- evaluation -----------------------------------------------------------------------
    def _logits(self, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros((0, *self.built.output_shape), np.float32)
        with self._on_device():
            return np.asarray(self.model.predict(x, batch_size=EVAL_BATCH, verbose=0))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> Evaluation:
        logits = self._logits(x)
        if self.head.mode == "binary-logits":
            pred = (logits.reshape(-1) > 0).astype(np.int64)
        else:
            pred = logits.argmax(axis=1)
        if not len(y):
            return Evaluation(math.nan, math.nan, pred)
        loss = numpy_loss(self.head, logits, y.astype(np.int64))
        return Evaluation(loss, float((pred == y).sum()) / len(y), pred)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes); for one sigmoid unit, (N, 2)."""
        return probabilities(self.head, self._logits(x))

    def peak_device_bytes(self) -> int | None:
        if not self.keras_device.startswith("gpu"):
            return None
        index = int(self.keras_device.split(":")[1])
        try:
            if BACKEND == "tensorflow":
                import tensorflow as tf

                return int(tf.config.experimental.get_memory_info(f"GPU:{index}")["peak"])
            if BACKEND == "jax":
                import jax

                stats = jax.devices("gpu")[index].memory_stats() or {}
                peak = stats.get("peak_bytes_in_use")
                return int(peak) if peak is not None else None
            import torch

            return int(torch.cuda.max_memory_allocated(index))
        except (RuntimeError, ValueError, KeyError):
            return None

    # -- weights --------------------------------------------------------------------------
    def snapshot(self) -> list[np.ndarray]:
        """A copy of the model's variables (weights and batch-norm statistics), for `restore`."""
        return _read(self.model.variables)

    def restore(self, state: list[np.ndarray]) -> None:
        _write(self.model.variables, state)

    def save(self, path: Path) -> None:
        """Keras' .weights.h5; Keras insists on that suffix, so other names go through one."""
        path = Path(path)
        if path.name.endswith(".weights.h5"):
            self.model.save_weights(path)
            return
        tmp = path.with_name(path.name + ".tmp.weights.h5")
        self.model.save_weights(tmp)
        os.replace(tmp, path)

    def load(self, path: Path) -> None:
        path = Path(path)
        with self._on_device():
            if path.name.endswith(".weights.h5"):
                self.model.load_weights(path)
                return
            link = path.with_name(path.name + ".load.weights.h5")
            link.unlink(missing_ok=True)
            os.symlink(path.resolve(), link)
            try:
                self.model.load_weights(link)
            finally:
                link.unlink(missing_ok=True)

    def activations(self, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        """Outputs of the named layers (after their activation) in torch's layout (NCHW)."""
        known = [n for n in names if n in {layer.name for layer in self.model.layers}]
        if not known:
            return {}
        with self._on_device():
            probe = keras.Model(self.model.inputs, [self.model.get_layer(n).output for n in known])
            outs = probe.predict(x, batch_size=EVAL_BATCH, verbose=0)
        if len(known) == 1:
            outs = [outs]
        return {
            n: self.built.to_canonical(n, np.asarray(o)) for n, o in zip(known, outs, strict=True)
        }


class _Slices(keras.utils.PyDataset):
    """Warm-up batches: consecutive slices of the given sizes."""

    def __init__(self, x: np.ndarray, y: np.ndarray, sizes: list[int]) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y = x, y
        self.bounds = np.cumsum([0, *sizes])

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __getitem__(self, i: int):
        lo, hi = self.bounds[i], self.bounds[i + 1]
        return self.x[lo:hi], self.y[lo:hi]


def device_details(name: str) -> dict[str, object]:
    """The device a run used, as this backend sees it: stored in the run's fingerprint."""
    where = keras_device(name)
    info: dict[str, object] = {"device": name, "keras_device": where, "keras_backend": BACKEND}
    if where.startswith("gpu"):
        gpu_name, memory = _gpus()[int(where.split(":")[1])]
        info.update(gpu_name=gpu_name, gpu_memory_bytes=memory)
    return info
