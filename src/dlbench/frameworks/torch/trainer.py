"""The PyTorch trainer (`torch`, and `torch-compile`, which compiles the model with torch.compile).

Two tunings, both training the same model on the same batches:
- `tuned`: the whole dataset resident on the device as one float32 tensor; each epoch is a
  permutation and batches are slices of it; the loss and correct counts are summed on the
  device, so the step loop never waits for the device (no `.item()`, no host copy) and the
  clock reads once per epoch, after a synchronise; Adam and SGD update with their fused
  kernels (`fused=True`: one kernel for every tensor, not a loop of small ops per tensor).
  Convolutional models train in channels-last memory format.
- `default`: what the PyTorch tutorials write: a DataLoader over CPU tensors, each batch moved
  to the device, `loss.item()` every step (a host sync per step on a GPU).
"""

from __future__ import annotations

import copy
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

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
from dlbench.frameworks.torch.devices import torch_device
from dlbench.frameworks.torch.model import (
    _apply,
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
EVAL_BATCH = 1024  # evaluation has no gradients: a larger batch is faster and changes nothing
STEP_REPORT_S = 0.5  # how often the step loop tells the progress bar where it is
CLASSES_EVERY = 64  # tuned loop: steps whose logits are kept before reducing them to classes


class Trainer:
    """Builds the model for one run and trains, evaluates and predicts with it."""

    def __init__(self, run: RunSpec, data: PreparedData, device: str) -> None:
        self.run = run
        self.data = data
        self.device = torch_device(device)
        threads = run.threads or os.cpu_count() or 1
        torch.set_num_threads(threads)
        torch.manual_seed(run.effective_seed)
        self.spec = run.model_spec()
        self.net, out_act = build_module(self.spec, data.input_shape)
        out_units = summarize(self.spec, data.input_shape).output_units
        self.head = head_for(self.spec, run.loss, out_units, data.num_classes)
        init_weights(self.net, self.spec, run, data.input_shape)
        self.net.to(self.device)
        # tuned, convolutional models: channels-last (NHWC) tensors, which oneDNN's CPU
        # convolutions and pools (and cuDNN's) run faster: b-cnn-100k's training step at batch
        # 512 took 197 ms instead of 231-268 ms here, a-torch-cnn's 14.8 instead of 15-19 ms.
        self.memory_format = memory_format(self.spec, run.tuning)
        self.net.to(memory_format=self.memory_format)
        self.optimizer = make_optimizer(run, self.net.parameters(), fused=run.tuning == "tuned")
        self.compiled = run.framework == "torch-compile"
        # Static shapes: warm_up compiles the full batch and the epoch's last, shorter one.
        self.step_net = torch.compile(self.net, dynamic=False) if self.compiled else self.net
        self.clock = SyncClock(self._sync)
        self.compile_s = 0.0
        self.options = {
            "threads": torch.get_num_threads(),
            "tuning": run.tuning,
            "torch_compile": self.compiled,
            "data_on_device": run.tuning == "tuned",
            "host_sync_per_step": run.tuning == "default",
            "fused_optimizer": run.tuning == "tuned" and run.optimizer != "adadelta",
            "channels_last": self.memory_format == torch.channels_last,
            "head": self.head.mode,
            "device_name": torch.cuda.get_device_name(self.device)
            if self.device.type == "cuda"
            else cpu_model(),
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
    def _loss(self, logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean"):
        mode = self.head.mode
        if mode == "binary-logits":
            z = logits.reshape(-1)
            return nn.functional.binary_cross_entropy_with_logits(
                z, y.to(z.dtype), reduction=reduction
            )
        if mode == "softmax-logits":
            return nn.functional.cross_entropy(logits, y, reduction=reduction)
        # Keras' categorical cross-entropy on non-softmax outputs
        out = _apply(self.head.activation, logits)
        p = out / out.sum(dim=1, keepdim=True).clamp_min(1e-7)
        nll = -torch.log(p.gather(1, y[:, None]).clamp(1e-7, 1 - 1e-7))
        return nll.sum() if reduction == "sum" else nll.mean()

    def _classes(self, logits: torch.Tensor) -> torch.Tensor:
        """The predicted class of each sample (the activations keep the logits' order)."""
        if self.head.mode == "binary-logits":
            return (logits.reshape(-1) > 0).long()
        return logits.argmax(dim=1)

    # -- training -------------------------------------------------------------------------
    def warm_up(self) -> float:
        """Compile before the clock starts (torch-compile): forward and backward on one batch of
        each shape the epoch will use, with every weight and buffer restored afterwards."""
        if not self.compiled:
            return 0.0
        n, bs = len(self.data.x_train), self.run.batch_size
        sizes = {min(bs, n)} | ({n % bs} if n % bs else set())
        state = copy.deepcopy(self.net.state_dict())
        x = self._to_device(self.data.x_train[: max(sizes)])
        y = self._labels(self.data.y_train[: max(sizes)])
        start = self.clock.now()
        self.net.train()
        for size in sorted(sizes):
            self._loss(self.step_net(x[:size]), y[:size]).backward()
        self.optimizer.zero_grad(set_to_none=True)
        self.compile_s = self.clock.now() - start
        self.net.load_state_dict(state)
        return self.compile_s

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
        loss.backward()
        self.optimizer.step()
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
            # (benchmarks/overhead.py: summing loss and correct count on the device every
            # step cost a-mlp 10% of its epoch at batch 32; an argmax a step, 3%).
            losses, logits_kept, predicted = [], [], []
            start = self.clock.now()
            last_report = time.perf_counter()
            for step in range(steps):
                idx = perm[step * bs : (step + 1) * bs]
                loss, logits = self._step(x[idx], y[idx])
                losses.append(loss)
                logits_kept.append(logits)
                if len(logits_kept) == CLASSES_EVERY:
                    predicted.append(self._classes(torch.cat(logits_kept)))
                    logits_kept.clear()
                if on_step and time.perf_counter() - last_report > STEP_REPORT_S:
                    on_step(epoch, step + 1, steps)  # host-side count: no sync
                    last_report = time.perf_counter()
            if logits_kept:
                predicted.append(self._classes(torch.cat(logits_kept)))
            loss_sum = float((torch.stack(losses) * sizes).sum())
            correct = int((torch.cat(predicted) == y[perm]).sum())
            epoch_s = self.clock.now() - start
            record = EpochRecord(epoch, loss_sum / n, correct / n, epoch_s)
            self._validate_into(record)
            if not on_epoch(record):
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
            for step, (xb, yb) in enumerate(loader):
                xb, yb = xb.to(self.device), yb.to(self.device)
                loss, logits = self._step(xb, yb)
                loss_total += loss.item() * len(xb)  # the tutorials' per-step sync
                correct_total += int((self._classes(logits) == yb).sum().item())
                if on_step and step % 100 == 0:
                    on_step(epoch, step + 1, len(loader))
            epoch_s = self.clock.now() - start
            record = EpochRecord(epoch, loss_total / n, correct_total / n, epoch_s)
            self._validate_into(record)
            if not on_epoch(record):
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

    def _validate_into(self, record: EpochRecord) -> None:
        """Add validation figures to the record (not for a loss that is no longer finite)."""
        if len(self.data.x_val) and math.isfinite(record.train_loss):
            start = self.clock.now()
            ev = self.evaluate(self.data.x_val, self.data.y_val)
            record.val_s = self.clock.now() - start
            record.val_loss, record.val_acc = ev.loss, ev.acc

    # -- evaluation -----------------------------------------------------------------------
    @torch.inference_mode()
    def _logits(self, x: np.ndarray) -> torch.Tensor:
        self.net.eval()
        xt = self._to_device(x)
        # The uncompiled module: evaluation shapes would each cost torch.compile a recompile.
        chunks = [self.net(xt[i : i + EVAL_BATCH]) for i in range(0, len(xt), EVAL_BATCH)]
        return torch.cat(chunks) if chunks else torch.empty(0, device=self.device)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> Evaluation:
        logits = self._logits(x)
        with torch.inference_mode():
            loss = self._loss(logits, self._labels(y), reduction="sum")
            pred = self._classes(logits)
        pred_np = pred.cpu().numpy()
        n = max(len(y), 1)
        return Evaluation(float(loss) / n, float((pred_np == y).sum()) / n, pred_np)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes); for one sigmoid unit, (N, 2)."""
        logits = self._logits(x)
        with torch.inference_mode():
            if self.head.mode == "binary-logits":
                p1 = torch.sigmoid(logits.reshape(-1))
                probs = torch.stack([1 - p1, p1], dim=1)
            elif self.head.mode == "softmax-logits":
                probs = torch.softmax(logits, dim=1)
            else:
                out = _apply(self.head.activation, logits)
                probs = out / out.sum(dim=1, keepdim=True).clamp_min(1e-7)
        return probs.cpu().numpy()

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
        for name, module in self.net.named_children():
            h = module(h)
            base = name.removesuffix("_act")
            if base in names:  # a layer's own activation replaces its pre-activation output
                out[base] = h.cpu().numpy()
        return out
