"""PyTorch adapter (`torch`, and `torch-compile` which compiles the model with torch.compile).

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
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dlbench.frameworks.base import (
    DeviceInfo,
    DeviceUnavailable,
    EpochRecord,
    Evaluation,
    OnEpoch,
    OnStep,
    PreparedData,
    epoch_permutation,
    first_batches,
    head_for,
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
    layer_names,
    summarize,
)
from dlbench.spec.run import RunSpec

WEIGHTS_SUFFIX = ".pt"  # a state_dict, read back with torch.load(weights_only=True)
EVAL_BATCH = 1024  # evaluation has no gradients: a larger batch is faster and changes nothing
STEP_REPORT_S = 0.5  # how often the step loop tells the progress bar where it is

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "elu": nn.ELU,
}


def devices() -> list[DeviceInfo]:
    found = [DeviceInfo("torch", "cpu", True, cpu_model())]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            found.append(DeviceInfo("torch", f"cuda:{i}", True, props.name, props.total_memory))
    else:
        found.append(DeviceInfo("torch", "cuda", False, reason=_no_cuda_reason()))
    return found


def _no_cuda_reason() -> str:
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no GPU or driver"


def torch_device(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceUnavailable(f"device {name}: {_no_cuda_reason()}; use --device cpu")
    dev = torch.device("cuda:0" if name == "cuda" else name)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceUnavailable(
            f"device {name}: torch sees {torch.cuda.device_count()} GPU(s); "
            f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )
    return dev


def build_module(spec: ModelSpec, input_shape: tuple[int, ...]) -> tuple[nn.Sequential, str]:
    """The network up to its logits (named conv1, dense1, ...) and its output activation."""
    layers, out_act = strip_output_activation(spec)
    logits_spec = spec.model_copy(update={"layers": tuple(layers)})
    summary = summarize(logits_spec, input_shape)
    shape = tuple(input_shape)
    modules: list[tuple[str, nn.Module]] = []
    for name, layer, info in zip(layer_names(logits_spec), layers, summary.layers, strict=True):
        act = None
        if isinstance(layer, Flatten):
            modules.append((name, nn.Flatten()))
        elif isinstance(layer, Dense):
            modules.append((name, nn.Linear(shape[0], layer.units, bias=layer.bias)))
            act = layer.activation
        elif isinstance(layer, Conv2d):
            conv = nn.Conv2d(
                shape[0],
                layer.filters,
                layer.kernel,
                layer.stride,
                layer.pad_pixels(),
                bias=layer.bias,
            )
            modules.append((name, conv))
            act = layer.activation
        elif isinstance(layer, MaxPool):
            modules.append((name, nn.MaxPool2d(layer.size, layer.stride or layer.size)))
        elif isinstance(layer, BatchNorm):
            bn = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            modules.append((name, bn(shape[0], eps=layer.eps, momentum=layer.momentum)))
        elif isinstance(layer, Dropout):
            modules.append((name, nn.Dropout(layer.rate)))
        elif isinstance(layer, Act):
            act = layer.fn
        if act and act != "linear":
            act_name = name if isinstance(layer, Act) else f"{name}_act"
            modules.append(
                (act_name, nn.Softmax(dim=1) if act == "softmax" else _ACTIVATIONS[act]())
            )
        shape = info.output_shape
    return nn.Sequential(OrderedDict(modules)), out_act


def _init_weights(model: nn.Module, spec: ModelSpec, run: RunSpec, input_shape) -> None:
    """Apply the run's initialiser; `framework-default` leaves PyTorch's own."""
    if run.init == "framework-default":
        return
    if run.init == "shared":
        weights = shared_weights(spec, input_shape, run.effective_seed)
        with torch.no_grad():
            for name, arrays in weights.items():
                module = getattr(model, name)
                for key, value in arrays.items():
                    getattr(module, key).copy_(torch.from_numpy(value))
        return
    rng = np.random.default_rng([run.effective_seed, 0x1417])
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                module.weight.copy_(
                    torch.from_numpy(sample(run.init, tuple(module.weight.shape), rng))
                )
                if module.bias is not None:
                    module.bias.zero_()


def make_optimizer(run: RunSpec, params, fused: bool = False) -> torch.optim.Optimizer:
    """The same optimizer everywhere: see docs/fairness.md for each framework's mapping.

    `fused` (the `tuned` tuning): Adam and SGD update every tensor in one fused kernel instead
    of a loop of small ops per tensor; the same arithmetic (losses agree to 1e-8 on digits),
    and on a CPU it made a-mlp's training step at batch 32 about 1.9x faster (benchmarks/)."""
    if run.optimizer == "adam":
        return torch.optim.Adam(
            params, lr=run.lr, betas=(0.9, 0.999), eps=run.eps, fused=fused or None
        )
    if run.optimizer == "sgd":
        return torch.optim.SGD(params, lr=run.lr, momentum=run.momentum, fused=fused or None)
    return torch.optim.Adadelta(params, lr=run.lr, rho=0.95, eps=run.eps)


def memory_format(spec: ModelSpec, tuning: str) -> torch.memory_format:
    """`tuned` trains convolutional models channels-last (NHWC), which oneDNN's CPU
    convolutions and pools (and cuDNN's) run faster; everything else keeps NCHW."""
    has_conv = any(layer.type == "conv2d" for layer in spec.layers)
    return torch.channels_last if tuning == "tuned" and has_conv else torch.contiguous_format


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
        _init_weights(self.net, self.spec, run, data.input_shape)
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


def _apply(activation: str, logits: torch.Tensor) -> torch.Tensor:
    if activation == "linear":
        return logits
    if activation == "softmax":
        return torch.softmax(logits, dim=1)
    return _ACTIVATIONS[activation]()(logits)


def versions() -> dict[str, str]:
    info = {"torch": torch.__version__}
    if torch.version.cuda:
        info["cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        info["cudnn"] = str(torch.backends.cudnn.version())
    return info


def device_details(name: str) -> dict[str, object]:
    """The device a run used, as torch sees it: stored in the run's fingerprint."""
    dev = torch_device(name)
    info: dict[str, object] = {"device": str(dev), "threads": torch.get_num_threads()}
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        uuid = getattr(props, "uuid", None)
        info.update(
            gpu_name=props.name,
            gpu_memory_bytes=int(props.total_memory),
            gpu_capability=f"{props.major}.{props.minor}",
            gpu_multiprocessors=props.multi_processor_count,
            gpu_uuid=str(uuid) if uuid else None,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_conv=torch.backends.cudnn.allow_tf32,
        )
    return info


GEMM_DTYPES = {"float32", "tf32", "bfloat16", "float16"}


def gemm_flops_per_s(device: str, dtype: str, size: int, reps: int = 5) -> float:
    """Best FLOP/s of a size x size matrix product over `reps` timed repetitions, after a
    warm-up; each repetition runs enough products to last about 50 ms, so that the clock's
    own cost and the launch of one kernel do not count. `tf32` is float32 storage with
    TensorFloat-32 products (GPUs only); `float32` turns TF32 off."""
    dev = torch_device(device)
    dt = {"float32": torch.float32, "tf32": torch.float32}.get(dtype) or getattr(torch, dtype)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    try:
        gen = torch.Generator(device=dev).manual_seed(0)
        a = torch.randn(size, size, device=dev, dtype=dt, generator=gen)
        b = torch.randn(size, size, device=dev, dtype=dt, generator=gen)
        out = torch.empty(size, size, device=dev, dtype=dt)
        clock = SyncClock(lambda: torch.cuda.synchronize(dev) if dev.type == "cuda" else None)
        torch.mm(a, b, out=out)  # warm-up: library initialisation, kernel choice
        _, one = clock.time(lambda: torch.mm(a, b, out=out))
        inner = max(1, min(1000, int(0.05 / max(one, 1e-9))))
        best = math.inf
        for _ in range(reps):
            start = clock.now()
            for _ in range(inner):
                torch.mm(a, b, out=out)
            best = min(best, (clock.now() - start) / inner)
        return 2 * size**3 / best
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
