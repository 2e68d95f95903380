"""The PyTorch trainer (`torch`, and `torch-compile`, which compiles the model with torch.compile).

Two tunings, both training the same model on the same batches:
- `tuned`: the whole dataset resident on the device as one float32 tensor; each epoch is a
  permutation and batches are slices of it; the loss and correct counts are summed on the
  device, so the step loop never waits for the device (no `.item()`, no host copy) and the
  clock reads once per epoch, after a synchronise; Adam and SGD update with their fused
  kernels (`fused=True`: one kernel for every tensor, not a loop of small ops per tensor).
  Convolutional models train in channels-last memory format.
  On a CPU, with no `threads` given, the thread count is chosen by timing the step at each
  candidate count during warm-up (frameworks/threads.py); torch-compile keeps torch's count,
  because Inductor specialises its CPU kernels for the count they were compiled with.
- `default`: what the PyTorch tutorials write: a DataLoader over CPU tensors, each batch moved
  to the device, `loss.item()` every step (a host sync per step on a GPU); torch's own thread
  count unless the run gives `threads`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dlbench.frameworks import REGISTRY, threads
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
from dlbench.frameworks.torch import precision
from dlbench.frameworks.torch.devices import torch_device
from dlbench.frameworks.torch.model import (
    apply_activation,
    build_module,
    init_weights,
    make_optimizer,
    memory_format,
)
from dlbench.measure.clock import SyncClock
from dlbench.measure.fingerprint import cpu_model
from dlbench.spec.layers import summarize
from dlbench.spec.run import RunSpec

WEIGHTS_SUFFIX = ".pt"  # a state_dict, read back with torch.load(weights_only=True)
# Inductor's generated CPU loops are specialised for the thread count at compile time (unless
# torch._inductor.config.cpp.dynamic_threads), so a sweep after compiling would not time them.
COMPILED_THREADS_FIXED = REGISTRY["torch-compile"].threads_fixed
EVAL_BATCH = 1024  # evaluation has no gradients: a larger batch is faster and changes nothing
STEP_REPORT_S = 0.5  # how often the step loop tells the progress bar where it is
CLASSES_EVERY = 64  # tuned loop: steps whose logits are kept before reducing them to classes


class Trainer:
    """Builds the model for one run and trains, evaluates and predicts with it."""

    def __init__(self, run: RunSpec, data: PreparedData, device: str) -> None:
        self.run = run
        self.data = data
        self.device = torch_device(device)
        self.compiled = run.framework == "torch-compile"
        self.threads_chosen_by = threads.plan(
            run.threads,
            run.tuning,
            self.device.type == "cpu",
            COMPILED_THREADS_FIXED if self.compiled else None,
        )
        if run.threads:
            torch.set_num_threads(run.threads)
        torch.manual_seed(run.effective_seed)
        self.spec = run.model_spec()
        self.net, out_act = build_module(self.spec, data.input_shape)
        out_units = summarize(self.spec, data.input_shape).output_units
        self.head = head_for(self.spec, run.loss, out_units, data.num_classes)
        init_weights(self.net, self.spec, run, data.input_shape)
        self.net.to(self.device)
        # tuned, convolutional models: channels-last (NHWC) tensors (see memory_format)
        self.memory_format = memory_format(self.spec, run.tuning)
        self.net.to(memory_format=self.memory_format)
        self.optimizer = make_optimizer(run, self.net.parameters(), fused=run.tuning == "tuned")
        # Mixed precision: `forward_net` runs the hidden layers under autocast and the output
        # layer in float32 (`net` itself for float32); float16 scales the loss.
        self.forward_net, self.scaler, precision_options = precision.for_run(
            run, self.net, self.device
        )
        # Static shapes: warm_up compiles the full batch and the epoch's last, shorter one.
        self.step_net = (
            torch.compile(self.forward_net, dynamic=False) if self.compiled else self.forward_net
        )
        # tuned: cuDNN tries its convolution algorithms once per shape and keeps the fastest,
        # as XLA autotunes inside compile_s; the trials run in warm_up, before the clock.
        torch.backends.cudnn.benchmark = run.tuning == "tuned"
        self.clock = SyncClock(self._sync)
        self.compile_s = 0.0
        self.on_phase: Callable[[str], None] | None = None  # the worker's energy meter
        resident = run.tuning == "tuned"
        self.options = {
            "threads": torch.get_num_threads(),  # the sweep's choice, once warm_up has run
            "threads_chosen_by": self.threads_chosen_by,
            "tuning": run.tuning,
            "torch_compile": self.compiled,
            "data_on_device": run.tuning == "tuned",
            "host_sync_per_step": run.tuning == "default",
            # Where the host waits for the device in a step: default copies x and y from
            # pageable memory (each copy waits for the stream) and calls .item() twice.
            "host_syncs_per_step": 0 if resident else 4,
            # The training set kept on the device (tuned): part of peak_device_bytes, told apart.
            "resident_data_bytes": data.x_train.size * 4 + data.y_train.size * 8 if resident else 0,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "fused_optimizer": run.tuning == "tuned" and run.optimizer != "adadelta",
            "channels_last": self.memory_format == torch.channels_last,
            "head": self.head.mode,
            "device_name": torch.cuda.get_device_name(self.device)
            if self.device.type == "cuda"
            else cpu_model(),
            **precision_options,
        }

    # -- device helpers ------------------------------------------------------------------
    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _to_device(self, x: np.ndarray) -> torch.Tensor:
        # NHWC float32 -> NCHW (or flat) on the device, once.
        # copy(), not ascontiguousarray(): with one channel the latter keeps NHWC strides,
        # which torch reads as channels_last, and its CPU batch-norm is then less accurate.
        t = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        return t.to(self.device).contiguous(memory_format=self.memory_format)

    def _labels(self, y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(y.astype(np.int64)).to(self.device)

    # -- loss and accuracy, decided by the head -------------------------------------------
    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The batch's mean loss, differentiable: what the step trains on (evaluation's loss is
        Head.mean_loss, in numpy)."""
        mode = self.head.mode
        if mode == "binary-logits":
            z = logits.reshape(-1)
            return nn.functional.binary_cross_entropy_with_logits(z, y.to(z.dtype))
        if mode == "softmax-logits":
            return nn.functional.cross_entropy(logits, y)
        # Keras' categorical cross-entropy on non-softmax outputs
        out = apply_activation(self.head.activation, logits)
        p = out / out.sum(dim=1, keepdim=True).clamp_min(1e-7)
        return -torch.log(p.gather(1, y[:, None]).clamp(1e-7, 1 - 1e-7)).mean()

    # -- training -------------------------------------------------------------------------
    def warm_up(self) -> float:
        """Everything a first step pays once, before the clock starts: one throw-away training
        step (forward, backward, optimizer) on a batch of each shape the epoch uses and one
        evaluation batch, as Keras' warm-up does. On a GPU that is cuBLAS/cuDNN start-up, lazy
        kernel loading and (tuned) cuDNN's autotuning; with torch-compile, compilation. Then,
        where the run's threads are chosen by measurement (`tuned` on a CPU), the thread sweep
        (frameworks/threads.py), which keeps the fastest count for the run; its time is part
        of compile_s and stored as `sweep_s`. Every weight, buffer, optimizer slot, loss-scaler
        and random-generator state is restored afterwards, and the device's peak memory is
        reset, so the run's peak is its own training's."""
        n, bs = len(self.data.x_train), self.run.batch_size
        if n == 0:
            return 0.0  # a restored model (frameworks/restore.py) has no training data
        sizes = {min(bs, n)} | ({n % bs} if n % bs else set())
        state = copy.deepcopy(self.net.state_dict())
        opt_state = copy.deepcopy(self.optimizer.state_dict())
        scaler_state = self.scaler.state_dict() if self.scaler is not None else None
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        x = self._to_device(self.data.x_train[: max(sizes)])
        y = self._labels(self.data.y_train[: max(sizes)])
        start = self.clock.now()
        self.net.train()
        for size in sorted(sizes):
            self._step(x[:size], y[:size])
        eval_x = self.data.x_val if len(self.data.x_val) else self.data.x_test
        if len(eval_x):
            self._logits(eval_x[:EVAL_BATCH])
        if self.threads_chosen_by == threads.SWEPT:
            self.net.train()
            full = min(bs, n)
            found = threads.sweep(
                lambda: self._step(x[:full], y[:full]),
                threads.candidates(threads.usable_cores()),
                torch.set_num_threads,
                self._sync,
            )
            self.options.update(found.options())
        self.compile_s = self.clock.now() - start
        self.net.load_state_dict(state)
        self.optimizer.load_state_dict(opt_state)
        self.optimizer.zero_grad(set_to_none=True)
        if scaler_state is not None:
            self.scaler.load_state_dict(scaler_state)
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng, self.device)
        self._reset_peak()
        return self.compile_s

    def _reset_peak(self) -> None:
        """From here on the device's peak memory is the run's training (and its data's)."""
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def _phase(self, name: str) -> None:
        """Tell the worker's energy meter where the epoch is (after a synchronised read)."""
        if self.on_phase is not None:
            self.on_phase(name)

    def fit(self, on_epoch: OnEpoch, on_step: OnStep | None = None) -> None:
        if self.run.tuning == "tuned":
            self._fit_resident(on_epoch, on_step)
        else:
            self._fit_loader(on_epoch, on_step)

    def _step(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One update; returns the batch's mean loss and its logits, both detached."""
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.step_net(xb)
        loss = self._loss(logits, yb)  # the mean over the batch, as every framework does
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:  # float16: the loss scaled up before backward, a step skipped on overflow
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return loss.detach(), logits.detach()

    def _fit_resident(self, on_epoch: OnEpoch, on_step: OnStep | None) -> None:
        x = self._to_device(self.data.x_train)
        y = self._labels(self.data.y_train)
        n, bs = len(x), self.run.batch_size
        steps = math.ceil(n / bs)
        sizes = torch.full((steps,), float(bs), device=self.device)
        sizes[-1] = n - bs * (steps - 1)
        for epoch in range(1, self.run.epochs + 1):
            perm = torch.from_numpy(epoch_permutation(n, self.run.effective_seed, epoch))
            perm = perm.to(self.device)
            self.net.train()
            # Each step's mean loss and logits stay on the device, in lists, and are reduced
            # to predicted classes every CLASSES_EVERY steps: no extra op in the step loop
            # (what a sum or an argmax every step cost: benchmarks/overhead.py, figures in
            # docs/performance.md, "What `tuned` changes").
            losses, logits_kept, predicted = [], [], []
            start = self.clock.now()
            self._phase("train")
            last_report = time.perf_counter()
            for step in range(steps):
                idx = perm[step * bs : (step + 1) * bs]
                loss, logits = self._step(x[idx], y[idx])
                losses.append(loss)
                logits_kept.append(logits)
                if len(logits_kept) == CLASSES_EVERY:
                    predicted.append(self.head.classes(torch.cat(logits_kept)))
                    logits_kept.clear()
                if on_step and time.perf_counter() - last_report > STEP_REPORT_S:
                    on_step(epoch, step + 1, steps)  # host-side count: no sync
                    last_report = time.perf_counter()
            if logits_kept:
                predicted.append(self.head.classes(torch.cat(logits_kept)))
            loss_sum = float((torch.stack(losses) * sizes).sum())
            correct = int((torch.cat(predicted) == y[perm]).sum())
            if not self._end_epoch(on_epoch, epoch, loss_sum, correct, n, start):
                return

    def _fit_loader(self, on_epoch: OnEpoch, on_step: OnStep | None) -> None:
        from torch.utils.data import DataLoader, TensorDataset

        x = torch.from_numpy(self.data.x_train.transpose(0, 3, 1, 2).copy())  # see _to_device
        y = torch.from_numpy(self.data.y_train.astype(np.int64))
        n = len(x)
        dataset = TensorDataset(x, y)
        for epoch in range(1, self.run.epochs + 1):
            # The same batch order as the tuned loop: the sampler is the epoch's permutation.
            order = epoch_permutation(n, self.run.effective_seed, epoch).tolist()
            loader = DataLoader(dataset, batch_size=self.run.batch_size, sampler=order)
            self.net.train()
            loss_total, correct_total = 0.0, 0
            start = self.clock.now()
            self._phase("train")
            for step, (xb, yb) in enumerate(loader):
                xb, yb = xb.to(self.device), yb.to(self.device)
                loss, logits = self._step(xb, yb)
                loss_total += loss.item() * len(xb)  # the tutorials' per-step sync
                correct_total += int((self.head.classes(logits) == yb).sum().item())
                if on_step and step % 100 == 0:
                    on_step(epoch, step + 1, len(loader))
            if not self._end_epoch(on_epoch, epoch, loss_total, correct_total, n, start):
                return

    def step_losses(self, steps: int) -> list[float]:
        """Train `steps` batches in fit's order and return each batch's mean loss before its
        update: the per-step figures the parity check (runner/parity.py) compares."""
        x = self._to_device(self.data.x_train)
        y = self._labels(self.data.y_train)
        self.net.train()
        losses = []
        for idx in first_batches(len(x), self.run.batch_size, self.run.effective_seed, steps):
            index = torch.from_numpy(idx).to(self.device)
            loss, _ = self._step(x[index], y[index])
            losses.append(float(loss))
        return losses

    def _end_epoch(
        self, on_epoch: OnEpoch, epoch: int, loss_sum: float, correct: int, n: int, start: float
    ) -> bool:
        """The epoch's record (timed from `start` to now), validated and handed on; False: stop."""
        epoch_s = self.clock.now() - start
        self._phase("validate")  # the energy window pauses while the model validates
        record = EpochRecord(epoch, loss_sum / n, correct / n, epoch_s)
        self._validate_into(record)
        return on_epoch(record)

    def _validate_into(self, record: EpochRecord) -> None:
        """Add validation figures to the record (not for a loss that is no longer finite)."""
        if len(self.data.x_val) and math.isfinite(record.train_loss):
            start = self.clock.now()
            ev = self.evaluate(self.data.x_val, self.data.y_val)
            record.val_s = self.clock.now() - start
            record.val_loss, record.val_acc = ev.loss, ev.acc

    # -- evaluation -----------------------------------------------------------------------
    @torch.inference_mode()
    def _logits(self, x: np.ndarray) -> np.ndarray:
        self.net.eval()
        xt = self._to_device(x)
        # The uncompiled module: evaluation shapes would each cost torch.compile a recompile.
        net = self.forward_net  # in the run's precision
        chunks = [net(xt[i : i + EVAL_BATCH]) for i in range(0, len(xt), EVAL_BATCH)]
        if not chunks:
            return np.zeros((0, self.head.units), np.float32)
        return torch.cat(chunks).cpu().numpy()

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> Evaluation:
        return self.head.evaluation(self._logits(x), y)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes); for one sigmoid unit, (N, 2)."""
        return self.head.probabilities(self._logits(x))

    def peak_device_bytes(self) -> int | None:
        if self.device.type != "cuda":
            return None
        return int(torch.cuda.max_memory_allocated(self.device))

    # -- weights --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, torch.Tensor]:
        """A copy of the weights and buffers (on the device), for `restore`."""
        return {k: v.detach().clone() for k, v in self.net.state_dict().items()}

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(state)

    def save(self, path: Path) -> None:
        torch.save(self.net.state_dict(), path)

    def load(self, path: Path) -> None:
        self.net.load_state_dict(torch.load(path, map_location=self.device, weights_only=True))

    @torch.inference_mode()
    def activations(self, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        """Outputs of the named layers (after their activation) for the given samples."""
        self.net.eval()
        out: dict[str, np.ndarray] = {}
        h = self._to_device(x)
        mixed = self.forward_net if isinstance(self.forward_net, precision.Mixed) else None
        for i, (name, module) in enumerate(self.net.named_children()):
            if mixed is None:
                h = module(h)
            else:  # in the run's precision: autocast up to the output layer
                with mixed.layer_context(i):
                    h = module(h if i < mixed.start else h.float())
            base = name.removesuffix("_act")
            if base in names:  # a layer's own activation replaces its pre-activation output
                out[base] = h.float().cpu().numpy()
        return out
