"""The Keras trainer: the same model, trained with `fit`, on whichever backend Keras loaded.

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
  `tuned`: `steps_per_execution` steps per call and XLA (`jit_compile=True`) where the
  backend's `tuned_jit` says it is faster (never on torch, where it means torch.compile and
  where Keras refuses `steps_per_execution > 1`); with no `threads` on a CPU, the thread count
  timed at each candidate in warm-up where the backend can change it (keras-torch), and kept
  as the backend starts it where it cannot (`THREADS_FIXED`: TensorFlow, XLA:CPU).
The network outputs logits, as in frameworks/torch, and the loss takes them (see `Head`).
Nothing here asks which backend it runs on: what differs is in `impl` (chosen.py).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dlbench.frameworks import threads
from dlbench.frameworks.base import (
    EpochRecord,
    Evaluation,
    OnEpoch,
    OnStep,
    PreparedData,
    epoch_permutation,
    first_batches,
    head_for,
)
from dlbench.frameworks.keras import precision
from dlbench.frameworks.keras.chosen import BACKEND, check_backend, impl, keras_device
from dlbench.frameworks.keras.model import (
    build_model,
    make_loss,
    make_optimizer,
)
from dlbench.measure.clock import SyncClock
from dlbench.measure.fingerprint import cpu_model
from dlbench.spec.layers import summarize
from dlbench.spec.run import RunSpec

EVAL_BATCH = (
    1024  # as frameworks/torch: evaluation has no gradients, a larger batch changes nothing
)
STEP_REPORT_S = 0.5  # how often the progress bar hears where the epoch is
TUNED_STEPS_PER_EXECUTION = 32  # steps per train-function call in `tuned` (a tf.while on TF)
WEIGHTS_SUFFIX = ".weights.h5"  # Keras' save_weights accepts no other name


# -- data ------------------------------------------------------------------------------------
class EpochBatches(keras.utils.PyDataset):
    """The training set in batches, in the epoch's permutation: the same batches as every other
    framework. Slices of arrays in memory need no worker threads; `set_epoch` picks the order."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        seed: int,
        resident: tuple | None = None,
    ) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.n, self.batch_size, self.seed = len(x), batch_size, seed
        # `resident`: x and y already on the run's device (keras-torch), sliced there by an
        # index of the same kind; otherwise numpy slices, copied to the device per batch.
        self.x, self.y = resident or (x, y)
        self.resident = resident is not None
        self.set_epoch(1)

    def set_epoch(self, epoch: int) -> None:
        order = epoch_permutation(self.n, self.seed, epoch)
        if self.resident:
            import torch  # only keras-torch keeps its batches resident

            order = torch.from_numpy(order).to(self.x.device)
        self.order = order

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

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
        self.trainer._phase("train")

    def on_train_batch_begin(self, batch, logs=None):
        if self.on_step_cb and time.perf_counter() - self.last_report > STEP_REPORT_S:
            self.on_step_cb(self.epoch, batch + 1, self.steps)  # host-side count: no sync
            self.last_report = time.perf_counter()

    def on_test_begin(self, logs=None):
        self.train_end = self.val_start = self.trainer.clock.now()
        self.trainer._phase("validate")

    def on_test_end(self, logs=None):
        self.val_s = self.trainer.clock.now() - self.val_start

    def on_epoch_end(self, epoch, logs=None):
        end = self.train_end or self.trainer.clock.now()
        self.trainer._phase("validate")  # no validation set: the epoch's training ends here
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


def set_seed(seed: int) -> None:
    """What `keras.utils.set_random_seed` does, but with only this backend's own seed: Keras'
    sets TensorFlow's whenever it is installed, importing it (seconds) into keras-jax and
    keras-torch runs that never use it."""
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    impl.set_seed(seed)


class Trainer:
    """Builds the Keras model for one run and trains, evaluates and predicts with it."""

    def __init__(self, run: RunSpec, data: PreparedData, device: str) -> None:
        check_backend(run.framework)
        self.run = run
        self.data = data
        used = impl.apply_threads(run.threads)  # before the backend's first computation
        self.device = device
        self.keras_device = keras_device(device)
        self.threads_chosen_by = threads.plan(
            run.threads, run.tuning, self.keras_device == "cpu", impl.THREADS_FIXED
        )
        # The dtype policy and TF32, before anything is built
        precision_options = precision.apply(run, device)
        set_seed(run.effective_seed)
        self.spec = run.model_spec()
        out_units = summarize(self.spec, data.input_shape).output_units
        self.head = head_for(self.spec, run.loss, out_units, data.num_classes)
        # None where a backend's `tuned` is its `default` (keras-torch)
        tuned_jit = impl.tuned_jit(self.spec, self.keras_device) if run.tuning == "tuned" else None
        tuned = tuned_jit is not None
        with self._on_device():
            self.built = build_model(
                self.spec, data.input_shape, overwritten=run.init != "framework-default"
            )
            self.model = self.built.model
            self.built.initialise(run)
            loss, metric = make_loss(self.head)
            jit, self.jit_reason = tuned_jit or ("auto", "Keras' default (auto)")
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
        self.on_phase: Callable[[str], None] | None = None  # the worker's energy meter
        self._last_phase = ""
        gpu = self._gpu_index()
        self.resident = impl.resident((data.x_train, self.head.targets(data.y_train)), gpu)
        self.options: dict[str, Any] = {
            "keras_backend": BACKEND,
            **used,
            "threads_chosen_by": self.threads_chosen_by,
            "tuning": run.tuning,
            "jit_compile": bool(self.model.jit_compile),
            "jit_compile_why": self.jit_reason,
            "steps_per_execution": self.model.steps_per_execution,
            "train_loop": "model.fit, one call for all epochs, verbose=0",
            "batches": "PyDataset over the epoch permutation, shuffle=False",
            "data_on_device": self.resident is not None,
            "resident_data_bytes": sum(int(a.nbytes) for a in (data.x_train, data.y_train))
            if self.resident is not None
            else 0,
            # Where the host waits for the device in one training step (see each backend).
            "host_syncs_per_step": impl.host_syncs_per_step(
                self.model.steps_per_execution, self.resident is not None
            ),
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "validation": "inside fit (validation_data), timed apart",
            "eval_batch": EVAL_BATCH,
            "head": self.head.mode,
            "device_name": self._device_name(),
            **impl.options(),
            **precision_options,
            **precision.recorded(self.model),
        }

    # -- device helpers ------------------------------------------------------------------
    def _on_device(self) -> AbstractContextManager:
        return keras.device(self.keras_device)

    def _device_name(self) -> str:
        if self.keras_device.startswith("cpu"):
            return cpu_model()
        return impl.gpus()[int(self.keras_device.split(":")[1])][0]

    def _gpu_index(self) -> int | None:
        """The run's GPU as the backend numbers it, None on the CPU."""
        if not self.keras_device.startswith("gpu"):
            return None
        return int(self.keras_device.split(":")[1])

    def _sync(self) -> None:
        """Wait for the run's own device: the clock reads after the work, not its launch."""
        impl.sync(self.model.trainable_variables, self._gpu_index())

    def _phase(self, name: str) -> None:
        """Tell the worker's energy meter where the epoch is (after a synchronised read), once
        per change (the end of an epoch after validation is no news)."""
        if self.on_phase is not None and name != self._last_phase:
            self.on_phase(name)
        self._last_phase = name

    # -- training -------------------------------------------------------------------------
    def _state(self) -> list[np.ndarray]:
        """Weights, batch-norm statistics and optimizer slots (warm-up restores all of them)."""
        return _read(self.model.variables + self.model.optimizer.variables)

    def _restore(self, state: list[np.ndarray]) -> None:
        # Inside the device scope: on keras-jax, values assigned outside it land on JAX's
        # default device, and a `cpu` or `cuda:1` run would start with its weights elsewhere.
        with self._on_device():
            _write(self.model.variables + self.model.optimizer.variables, state)

    def warm_up(self) -> float:
        """Trace and compile before the clock: one throw-away `fit` over a full batch and the
        epoch's last, shorter one, then one `predict` of each evaluation shape; then, where the
        run's threads are chosen by measurement, the thread sweep over `train_on_batch` steps
        (frameworks/threads.py; its time is part of compile_s, stored as `sweep_s`); every
        weight, optimizer slot and random-generator state is restored afterwards."""
        n, bs = len(self.data.x_train), self.run.batch_size
        if n == 0:
            return 0.0  # a restored model (frameworks/restore.py) has no training data
        sizes = [min(bs, n)] + ([n % bs] if n % bs and n > bs else [])
        state = self._state()
        start = self.clock.now()
        with self._on_device():
            idx = np.concatenate([np.arange(s) for s in sizes])
            x = self.data.x_train[idx]
            y = self.head.targets(self.data.y_train[idx])
            warm = _Slices(x, y, sizes)
            val = None
            if len(self.data.x_val):
                val = (
                    self.data.x_val[:EVAL_BATCH],
                    self.head.targets(self.data.y_val[:EVAL_BATCH]),
                )
            self._fit(warm, 1, val)
            for m in {
                min(EVAL_BATCH, len(self.data.x_test)),
                len(self.data.x_test) % EVAL_BATCH,
            } - {0}:
                self.model.predict(self.data.x_test[:m], batch_size=EVAL_BATCH, verbose=0)
            if self.threads_chosen_by == threads.SWEPT:
                xb, yb = x[: sizes[0]], y[: sizes[0]]  # a full batch
                found = threads.sweep(
                    lambda: self.model.train_on_batch(xb, yb),
                    threads.candidates(threads.usable_cores()),
                    impl.set_threads,
                    self._sync,
                )
                self.options.update(found.options())
        self.compile_s = self.clock.now() - start
        self._restore(state)
        self.model.reset_metrics()
        gpu = self._gpu_index()
        # The run's peak is its training's: reset it where the backend can (JAX cannot).
        self.options["peak_reset_after_warm_up"] = gpu is not None and impl.reset_peak(gpu)
        return self.compile_s

    def fit(self, on_epoch: OnEpoch, on_step: OnStep | None = None) -> None:
        batches = EpochBatches(
            self.data.x_train,
            self.head.targets(self.data.y_train),
            self.run.batch_size,
            self.run.effective_seed,
            self.resident,
        )
        val = None
        if len(self.data.x_val):
            val = (self.data.x_val, self.head.targets(self.data.y_val))
        recorder = _EpochClock(self, batches, on_epoch, on_step)
        with self._on_device():
            self._fit(batches, self.run.epochs, val, [recorder])

    def _fit(self, batches, epochs: int, val, callbacks: list | None = None) -> None:
        """`model.fit` as every fit here calls it: the batches' own order, silent."""
        self.model.fit(
            batches,
            epochs=epochs,
            shuffle=False,
            verbose=0,
            validation_data=val,
            validation_batch_size=EVAL_BATCH,
            callbacks=callbacks,
        )

    def step_losses(self, steps: int) -> list[float]:
        """Train `steps` batches in fit's order, one `train_on_batch` each (the train step
        `fit` runs), and return each batch's mean loss before its update: the parity check."""
        losses = []
        y = self.head.targets(self.data.y_train)
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
        return self.head.evaluation(self._logits(x), y)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes); for one sigmoid unit, (N, 2)."""
        return self.head.probabilities(self._logits(x))

    def peak_device_bytes(self) -> int | None:
        if not self.keras_device.startswith("gpu"):
            return None
        index = int(self.keras_device.split(":")[1])
        try:
            return impl.peak_device_bytes(index)
        except (RuntimeError, ValueError, KeyError):
            return None

    # -- weights --------------------------------------------------------------------------
    def snapshot(self) -> list[np.ndarray]:
        """A copy of the model's variables (weights and batch-norm statistics), for `restore`."""
        return _read(self.model.variables)

    def restore(self, state: list[np.ndarray]) -> None:
        with self._on_device():  # see _restore
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
