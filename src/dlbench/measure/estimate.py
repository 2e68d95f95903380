"""The time model: a run's predicted epoch, test and wall time from its spec and the probes.

docs/estimating.md states the model; in short, per training step

    sum over layers, forward and backward, of max(FLOPs / rate(shape), bytes / bandwidth(size))
    + the optimizer's bytes / bandwidth
    + step_s + sample_s * batch + op_s * framework ops          (the framework's own cost)

and per epoch, whatever its steps, the framework's per_epoch_s; where rate(shape) is
interpolated from the GEMM-shape probe of the library the framework calls (torch:
MKL/cuBLAS, keras-tf: oneDNN, keras-jax: XLA), the bandwidth from the memory probe at the size
the layer touches, and step_s, sample_s, op_s, per_epoch_s from the framework's calibration (a
tiny fixed model timed for a few epochs of 100 and 400 steps). Fixed costs (process start,
import, build, compile, first-epoch extra) come from the calibration too, data loading from
the load probe. Nothing here reads a stored run: the estimate is never fitted on what it
predicts.

This module is arithmetic on probe records (dicts as the store keeps them); it imports spec/
and measure/rates.py (each rate read from its probe) only. runner/calibrate.py measures the
probes; runner/estimate.py gathers them per run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from dlbench.measure.rates import bandwidth, gemm_rate, layer_bandwidth
from dlbench.spec.cost import LayerCost, costs_of, optimizer_bytes
from dlbench.spec.layers import ModelSpec, ModelSummary

STALE_AFTER_S = 24 * 3600.0  # a probe older than a day is stale even on the same boot
EVAL_BATCH = 1024  # the adapters' evaluation batch (frameworks/torch/trainer.py, keras/trainer.py)
# framework -> the library whose matrix products it runs on a CPU
LIBRARY = {
    "torch": "torch",
    "torch-compile": "torch",
    "keras-torch": "torch",
    "keras-tf": "tensorflow",
    "keras-jax": "jax",
}
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


def boot_id() -> str | None:
    """This boot's id (Linux); a probe from another boot measured another machine, or the same
    VM on another host."""
    try:
        with open(BOOT_ID_PATH) as f:
            return f.read().strip() or None
    except OSError:
        return None


def stale_reason(probe: dict[str, Any], now: datetime | None = None) -> str | None:
    """Why a probe no longer describes this machine, or None when it still does."""
    now = now or datetime.now(timezone.utc)
    here = boot_id()
    if probe.get("boot_id") is None:
        return "no boot id (older dlbench)"
    if here is not None and probe["boot_id"] != here:
        return "another boot"
    try:
        at = datetime.fromisoformat(probe["measured_at"])
    except (TypeError, ValueError):
        return "no date"
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    age_s = (now - at).total_seconds()
    if age_s > STALE_AFTER_S:
        return f"{age_s / 3600:.0f} h old"
    return None


# -- the probes one prediction uses ------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """A framework's own costs on a device, from its calibration probe (runner/calibrate.py)."""

    step_s: float  # per training step, whatever the model
    sample_s: float  # per sample in a step (host-side batching, copies)
    op_s: float  # per framework operation (forward, its backward and its update)
    eval_step_s: float  # per evaluation batch
    start_s: float  # process start to the worker's first line
    import_s: float
    build_s: float
    compile_s: float
    first_extra_s: float  # the first epoch's extra time (lazy initialisation, tracing)
    # per epoch, whatever its steps (Keras sets up each epoch's iterator and its last, partial
    # steps_per_execution call); 0 in probes from before it was measured
    per_epoch_s: float = 0.0
    # the smallest model's steady step: what its own thread sweep (in compile_s) was made of
    small_step_s: float = 0.0

    @staticmethod
    def from_detail(detail: dict[str, Any]) -> Calibration:
        return Calibration(**_calibration_fields(detail))


def _calibration_fields(detail: dict[str, Any]) -> dict[str, float]:
    """The Calibration's fields from a probe's detail; those with a default may be absent."""
    fields = Calibration.__dataclass_fields__
    return {k: float(detail[k]) if k in detail else f.default for k, f in fields.items()}


@dataclass(frozen=True)
class ThreadSweep:
    """The warm-up's thread sweep, as frameworks/threads.py `sweep` will run it: each of
    `counts` timed in turn for up to `rounds` rounds, each turn one untimed step and as many
    timed ones as fit its share of `budget_s` (at least one, at most steps / rounds), rounds
    after the first skipped once the budget is spent. runner/estimate.py builds it from that
    module's constants for a run that sweeps (tuned, CPU, no --threads)."""

    counts: tuple[int, ...]
    steps: int
    rounds: int
    budget_s: float

    def seconds(self, step_s: Callable[[int], float]) -> float:
        """The sweep's length, `step_s(count)` being a step's seconds at `count` threads."""
        share = self.budget_s / (self.rounds * len(self.counts))
        elapsed = 0.0
        for turn in range(self.rounds):
            if turn and elapsed > self.budget_s:
                break
            for count in self.counts:
                t = max(step_s(count), 1e-9)
                elapsed += (1 + max(1, min(self.steps // self.rounds, int(share / t)))) * t
        return elapsed


@dataclass(frozen=True)
class Machine:
    """What the model needs to know about the device a run uses."""

    gemm_by_shape: dict[str, float]  # "MxKxN" -> FLOP/s, the framework's library
    bandwidth_by_size: dict[str, float]  # bytes -> bytes/s
    calibration: Calibration
    load_bytes_per_s: float | None = None
    probes: tuple[dict[str, Any], ...] = ()  # id, kind, stale reason of each probe used
    profile: str | None = None  # a spec-sheet device (--device-profile), or None: measured
    conv_by_shape: dict[str, float] | None = None  # 3x3 convolutions by im2col shape
    # their backward pass (both gradients; the weights' alone for one input channel), by the
    # forward's im2col shape; None: the backward at the forward's rate
    conv_backward_by_shape: dict[str, float] | None = None
    # element-wise layers' bytes/s, forward and backward, keyed "kind/layout/channels:bytes"
    # (layer-rates; "kind:bytes" in a probe from before layouts: channels-last, 16 channels)
    layer_by_size: dict[str, float] | None = None
    layout: str = "nhwc"  # the run's image tensors: "nchw" (channels first) or "nhwc"


@dataclass
class Prediction:
    first_epoch_s: float
    epoch_s: float  # steady epoch
    test_s: float
    val_s: float  # per epoch
    wall_s: float  # the run's process, start to exit
    steps: int
    compute_s: float  # per steady epoch: layers whose FLOPs decide their time
    memory_s: float  # ... whose bytes decide it (the optimizer's update included)
    overhead_s: float  # ... the framework's per-step, per-sample and per-op costs
    fixed_s: float  # start, import, load, build, compile, first-epoch extra
    load_s: float  # reading and normalising the dataset (in fixed_s)
    stale: list[str] = field(default_factory=list)  # "probe 12 (bandwidth): another boot"
    profile: str | None = None
    by_layer: dict[str, float] = field(default_factory=dict)  # seconds per steady epoch
    # in fixed_s: the warm-up's throw-away steps (a step per batch size, an evaluation batch)
    # and, where the run sweeps its threads, the sweep
    warm_up_s: float = 0.0
    sweep_s: float = 0.0
    # in fixed_s: the interpreter's start and the framework's import, which a run forked from
    # a warm process (runner/warm.py) does not pay: runner/estimate.py `walls_s`
    start_import_s: float = 0.0

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _kind_time(
    machine: Machine, kind: str, pass_bytes: int, both_bytes: int, channels: int = 0
) -> float | None:
    """Seconds of one pass moving `pass_bytes` through the library's `kind` kernels, from
    the layers probe; None without one (or for a kind it does not time)."""
    if not machine.layer_by_size or not pass_bytes:
        return None
    rate = layer_bandwidth(machine.layer_by_size, kind, both_bytes, machine.layout, channels)
    return pass_bytes / rate if rate else None


def _layer_time(machine: Machine, cost: LayerCost, backward: bool) -> tuple[float, bool]:
    """(seconds, compute-bound?) of one pass of one layer."""
    gemms = cost.backward_gemms if backward else cost.forward_gemms
    nbytes = cost.backward_bytes if backward else cost.forward_bytes
    kernel = _kind_time(
        machine, cost.kind, nbytes, cost.forward_bytes + cost.backward_bytes, cost.channels
    )  # an element-wise layer at its kernels' measured speed
    if kernel is not None:
        return kernel, False
    fused = cost.fused_backward_bytes if backward else cost.fused_forward_bytes
    # a fused activation (Dense(activation="relu")) is a kernel of its own after the product
    act = _kind_time(
        machine, "activation", fused, cost.fused_forward_bytes + cost.fused_backward_bytes,
        cost.channels,
    )  # fmt: skip
    if act is not None:
        nbytes -= fused
    if cost.kind == "conv2d" and machine.conv_by_shape and cost.forward_gemms:
        # a convolution runs at the rate of a convolution of its size, its backward at the
        # rate of a backward of its size where that was probed
        rates = machine.conv_backward_by_shape if backward else None
        rate = gemm_rate(rates or machine.conv_by_shape, cost.forward_gemms[0])
        flops_s = sum(2 * m * k * n / rate for m, k, n in gemms)
    else:
        by_shape = machine.gemm_by_shape
        flops_s = sum(2 * m * k * n / gemm_rate(by_shape, (m, k, n)) for m, k, n in gemms)
    bytes_s = nbytes / bandwidth(machine.bandwidth_by_size, nbytes) if nbytes else 0.0
    return max(flops_s, bytes_s) + (act or 0.0), flops_s >= bytes_s


def _step(
    spec: ModelSpec,
    summary: ModelSummary,
    batch: int,
    machine: Machine,
    optimizer: str,
    momentum: float,
    train: bool = True,
) -> tuple[float, float, float, dict[str, float]]:
    """(compute_s, memory_s, overhead_s, per-layer s) of one step on a batch of `batch`."""
    costs = costs_of(spec, summary, batch)
    compute = memory = 0.0
    per_layer: dict[str, float] = {}
    for cost in costs:
        for backward in (False, True) if train else (False,):
            t, bound = _layer_time(machine, cost, backward)
            per_layer[cost.name] = per_layer.get(cost.name, 0.0) + t
            if bound:
                compute += t
            else:
                memory += t
    cal = machine.calibration
    ops = sum(c.ops for c in costs)
    if train:
        opt_bytes = optimizer_bytes(summary.params, optimizer, momentum)
        opt_s = opt_bytes / bandwidth(machine.bandwidth_by_size, opt_bytes)
        memory += opt_s
        per_layer["optimizer"] = opt_s
        overhead = cal.step_s + cal.sample_s * batch + cal.op_s * ops
    else:
        overhead = cal.eval_step_s + cal.op_s * ops / 3  # forward only: a third of the ops
    return compute, memory, overhead, per_layer


def predict(
    spec: ModelSpec,
    summary: ModelSummary,
    machine: Machine,
    *,
    batch_size: int,
    epochs: int,
    n_train: int,
    n_val: int,
    n_test: int,
    optimizer: str = "adam",
    momentum: float = 0.0,
    load_bytes: int = 0,
    sweep: ThreadSweep | None = None,
) -> Prediction:
    """The run's times. `n_train` counts the samples trained on (after the validation split);
    `load_bytes` the dataset bytes the worker reads and normalises; `sweep`: the warm-up's
    thread sweep, for a run that sweeps."""
    full, rest = divmod(n_train, batch_size)
    compute = memory = overhead = 0.0
    by_layer: dict[str, float] = {}
    step_by_batch: dict[int, tuple[float, float, float]] = {}  # (compute, memory, overhead)
    for batch, count in ((batch_size, full), (rest, 1 if rest else 0)):
        if not count:
            continue
        c, m, o, layers = _step(spec, summary, batch, machine, optimizer, momentum)
        step_by_batch[batch] = (c, m, o)
        compute, memory, overhead = compute + count * c, memory + count * m, overhead + count * o
        for k, v in layers.items():
            by_layer[k] = by_layer.get(k, 0.0) + count * v
    overhead += machine.calibration.per_epoch_s
    epoch_s = compute + memory + overhead

    def evaluation(n: int) -> float:
        total = 0.0
        full_e, rest_e = divmod(n, EVAL_BATCH)
        for batch, count in ((EVAL_BATCH, full_e), (rest_e, 1 if rest_e else 0)):
            if count:
                c, m, o, _ = _step(spec, summary, batch, machine, optimizer, momentum, False)
                total += count * (c + m + o)
        return total

    test_s = evaluation(n_test)
    val_s = evaluation(n_val) if n_val else 0.0
    cal = machine.calibration
    n_eval = min(n_val or n_test, EVAL_BATCH)
    eval_step_s = (
        sum(_step(spec, summary, n_eval, machine, optimizer, momentum, False)[:3]) if n_eval else 0
    )
    warm_up_s, sweep_s = _warm_up(step_by_batch, eval_step_s, min(batch_size, n_train), sweep)
    # The calibration's compile_s holds its tiny model's own warm-up: its sweep, left out here
    # so that the run's sweep is not counted twice.
    tiny_sweep = sweep.seconds(lambda _: cal.small_step_s) if sweep and cal.small_step_s else 0.0
    compile_s = max(cal.compile_s - tiny_sweep, 0.0) + warm_up_s + sweep_s
    load_s = load_bytes / machine.load_bytes_per_s if machine.load_bytes_per_s else 0.0
    fixed = cal.start_s + cal.import_s + load_s + cal.build_s + compile_s + cal.first_extra_s
    first = epoch_s + cal.first_extra_s
    wall = fixed - cal.first_extra_s + first + (epochs - 1) * epoch_s + epochs * val_s + test_s
    stale = [f"probe {p['id']} ({p['kind']}): {p['stale']}" for p in machine.probes if p["stale"]]
    return Prediction(
        first_epoch_s=first,
        epoch_s=epoch_s,
        test_s=test_s,
        val_s=val_s,
        wall_s=wall,
        steps=full + (1 if rest else 0),
        compute_s=compute,
        memory_s=memory,
        overhead_s=overhead,
        fixed_s=fixed,
        load_s=load_s,
        stale=stale,
        profile=machine.profile,
        by_layer=by_layer,
        warm_up_s=warm_up_s,
        sweep_s=sweep_s,
        start_import_s=cal.start_s + cal.import_s,
    )


def _warm_up(
    step_by_batch: dict[int, tuple[float, float, float]],
    eval_step_s: float,
    swept_batch: int,
    sweep: ThreadSweep | None,
) -> tuple[float, float]:
    """(the warm-up's throw-away steps, the thread sweep) in seconds, as the adapters'
    `warm_up` runs them: one training step at each batch size an epoch uses (`step_by_batch`,
    the epoch's own steps: compute, memory, overhead) and one evaluation batch; then the
    sweep, at `swept_batch` (the full batch), its arithmetic and traffic spread over fewer
    threads (the probes ran on all of `sweep.counts`' largest)."""
    if not step_by_batch:
        return 0.0, 0.0
    warm = sum(sum(step) for step in step_by_batch.values()) + eval_step_s
    if not sweep:
        return warm, 0.0
    compute, memory, overhead = step_by_batch[swept_batch]
    cores = max(sweep.counts)
    return warm, sweep.seconds(lambda count: overhead + (compute + memory) * cores / count)


# -- calibration arithmetic --------------------------------------------------------------------
CALIBRATION_INPUT = (1, 8, 8)  # the tiny model's input (C, H, W)
CALIBRATION_CLASSES = 10
CALIBRATION_DEPTH = 6  # hidden layers of the deeper calibration model
CALIBRATION_STEPS = 100  # steps per calibration epoch, but for the long one
# (name, batch, hidden layers, steps per epoch): two batch sizes, two depths and two epoch
# lengths fix sample_s, op_s and per_epoch_s
CALIBRATION_CONFIGS = (
    ("small", 16, 0, CALIBRATION_STEPS),
    ("wide", 256, 0, CALIBRATION_STEPS),
    ("deep", 16, CALIBRATION_DEPTH, CALIBRATION_STEPS),
    ("long", 16, 0, 4 * CALIBRATION_STEPS),
)


def tiny_model(hidden: int) -> ModelSpec:
    """The calibration's fixed model: `hidden` dense layers of 16, then 10 outputs."""
    from dlbench.spec.layers import Dense, Flatten

    layers = [Flatten(), *[Dense(units=16, activation="relu") for _ in range(hidden)]]
    out = Dense(units=CALIBRATION_CLASSES, activation="softmax")
    return ModelSpec(layers=(*layers, out), name="calibration")


def net_calibration(
    detail: dict[str, Any],
    gemm_by_shape: dict[str, float],
    bandwidth_by_size: dict[str, float],
    layer_by_size: dict[str, float] | None = None,
) -> Calibration:
    """The framework's own costs: each calibration model's measured step less what the model
    says its arithmetic and memory traffic take on this machine (so that the two are not
    counted twice), solved for step_s, sample_s, op_s and (where the probe timed the long
    epoch) per_epoch_s."""
    zero = Calibration(**{k: 0.0 for k in Calibration.__dataclass_fields__})
    probe = Machine(gemm_by_shape, bandwidth_by_size, zero, layer_by_size=layer_by_size)
    points = []
    for name, batch, hidden, steps in CALIBRATION_CONFIGS:
        if f"{name}_step_s" not in detail:
            continue  # a probe from before this config was timed
        spec = tiny_model(hidden)
        summary = spec.summary(CALIBRATION_INPUT)
        compute, memory, _, _ = _step(spec, summary, batch, probe, "adam", 0.0)
        ops = sum(c.ops for c in costs_of(spec, summary, 1))
        points.append({"step_s": detail[f"{name}_step_s"] - compute - memory, "batch": batch,
                       "ops": ops, "steps": detail.get(f"{name}_steps", steps)})  # fmt: skip
    return Calibration(**{**_calibration_fields(detail), **fit_calibration(points)})


def fit_calibration(points: list[dict[str, float]]) -> dict[str, float]:
    """step_s, sample_s, op_s and per_epoch_s from timed epochs of tiny models: each point
    has `step_s` (the measured steady epoch over its `steps`, less its modelled compute),
    `batch`, `ops` and `steps` (CALIBRATION_STEPS where absent). A step costs step_s +
    sample_s * batch + op_s * ops, and an epoch adds per_epoch_s, so a point's step_s also
    holds per_epoch_s / steps: points varying the batch, the op count and the epoch's length fix
    the four unknowns (least squares when there are more); with one epoch length, per_epoch_s
    is 0 (it cannot be told from step_s). Negative fits (noise on a loaded machine) are clamped
    at zero."""
    import numpy as np

    steps = [float(p.get("steps", CALIBRATION_STEPS)) for p in points]
    by_epoch = len(set(steps)) > 1
    a = np.array(
        [[1.0, p["batch"], p["ops"], *([1.0 / n] if by_epoch else [])]
         for p, n in zip(points, steps, strict=True)]
    )  # fmt: skip
    y = np.array([p["step_s"] for p in points])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    step_s, sample_s, op_s, per_epoch_s = (float(max(c, 0.0)) for c in [*coef, 0.0][:4])
    return {"step_s": step_s, "sample_s": sample_s, "op_s": op_s, "per_epoch_s": per_epoch_s}
