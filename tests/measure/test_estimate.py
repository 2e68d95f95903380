"""The time model's arithmetic: interpolation, staleness, and a prediction from hand-made probes."""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from dlbench.measure.estimate import (
    Calibration,
    Machine,
    boot_id,
    fit_calibration,
    predict,
    stale_reason,
)
from dlbench.measure.rates import bandwidth, gemm_rate
from dlbench.spec.presets import PRESETS
from tests.runner.estimate_helpers import CALIBRATION, probe_records


def _grid(rate):
    return {
        f"{m}x{k}x{n}": rate(m, k, n) for m in (16, 1024) for k in (16, 1024) for n in (16, 1024)
    }


def test_gemm_rate_is_exact_on_the_grid_and_log_linear_between():
    by = _grid(lambda m, k, n: 1e6 * m)
    assert gemm_rate(by, (16, 16, 16)) == pytest.approx(1.6e7)
    assert gemm_rate(by, (1024, 16, 1024)) == pytest.approx(1.024e9)
    # halfway in log2 between 16 and 1024 is 128: the geometric mean of the two rates
    assert gemm_rate(by, (128, 16, 16)) == pytest.approx(math.sqrt(1.6e7 * 1.024e9))
    # outside the grid: the nearest edge, never an extrapolation
    assert gemm_rate(by, (1 << 20, 16, 16)) == pytest.approx(1.024e9)
    assert gemm_rate(by, (1, 1, 1)) == pytest.approx(1.6e7)


def test_bandwidth_interpolates_by_size():
    by = {"1024": 4e10, "1048576": 1e10}
    assert bandwidth(by, 1024) == pytest.approx(4e10)
    assert bandwidth(by, 32768) == pytest.approx(2e10)  # halfway in log2
    assert bandwidth(by, 1e12) == pytest.approx(1e10)


def test_stale_probes():
    now = datetime.now(timezone.utc)
    fresh = {"boot_id": boot_id(), "measured_at": now.isoformat()}
    assert stale_reason(fresh) is None
    assert stale_reason({**fresh, "boot_id": "another"}) == "another boot"
    old = (now - timedelta(days=2)).isoformat()
    assert stale_reason({**fresh, "measured_at": old}) == "48 h old"
    assert stale_reason({**fresh, "boot_id": None}) == "no boot id (older dlbench)"


def test_fit_calibration_recovers_the_costs():
    def step(batch, ops):
        return {"step_s": 1e-3 + 2e-6 * batch + 5e-5 * ops, "batch": batch, "ops": ops}

    fit = fit_calibration([step(16, 2), step(256, 2), step(16, 14)])
    assert fit["step_s"] == pytest.approx(1e-3)
    assert fit["sample_s"] == pytest.approx(2e-6)
    assert fit["op_s"] == pytest.approx(5e-5)
    assert fit["per_epoch_s"] == 0.0  # one epoch length: it cannot be told from step_s


def test_fit_calibration_recovers_a_cost_per_epoch():
    def epoch(batch, ops, steps):
        step_s = 1e-3 + 2e-6 * batch + 5e-5 * ops + 0.08 / steps
        return {"step_s": step_s, "batch": batch, "ops": ops, "steps": steps}

    fit = fit_calibration([epoch(16, 2, 100), epoch(256, 2, 100), epoch(16, 14, 100),
                           epoch(16, 2, 400)])  # fmt: skip
    assert fit["per_epoch_s"] == pytest.approx(0.08)
    assert fit["step_s"] == pytest.approx(1e-3)
    assert fit["sample_s"] == pytest.approx(2e-6)
    assert fit["op_s"] == pytest.approx(5e-5)


def test_a_cost_per_epoch_is_paid_once_an_epoch():
    machine = _machine()
    spec = PRESETS["a-mlp"].spec
    summary = spec.summary(PRESETS["a-mlp"].input_shape)
    with_epoch = replace(machine, calibration=replace(machine.calibration, per_epoch_s=0.08))
    kw = dict(batch_size=32, epochs=3, n_train=3200, n_val=0, n_test=100)
    a, b = predict(spec, summary, machine, **kw), predict(spec, summary, with_epoch, **kw)
    assert b.epoch_s - a.epoch_s == pytest.approx(0.08)
    assert b.overhead_s - a.overhead_s == pytest.approx(0.08)
    assert b.wall_s - a.wall_s == pytest.approx(3 * 0.08)


def _machine() -> Machine:
    records = {r["kind"]: r for r in probe_records()}
    return Machine(
        gemm_by_shape=records["gemm-shapes"]["by_size"],
        bandwidth_by_size=records["bandwidth"]["by_size"],
        calibration=Calibration.from_detail(CALIBRATION),
        load_bytes_per_s=1e8,
    )


def test_prediction_adds_up():
    preset = PRESETS["a-mlp"]
    spec, summary = preset.spec, preset.spec.summary(preset.input_shape)
    p = predict(
        spec, summary, _machine(), batch_size=32, epochs=3, n_train=1000, n_val=0, n_test=500
    )
    assert p.steps == 32  # 31 full batches and one of 8
    assert p.epoch_s == pytest.approx(p.compute_s + p.memory_s + p.overhead_s)
    assert p.epoch_s == pytest.approx(sum(p.by_layer.values()) + p.overhead_s)
    # one op per layer but flatten (a view), one more per activation fused into a layer
    ops = sum(1 for layer in spec.layers if layer.type != "flatten") + sum(
        1 for layer in spec.layers if getattr(layer, "activation", "linear") != "linear"
    )
    per_step = CALIBRATION["step_s"] + CALIBRATION["op_s"] * ops
    overhead = 32 * per_step + CALIBRATION["sample_s"] * 1000
    assert p.overhead_s == pytest.approx(overhead)
    assert p.first_epoch_s == pytest.approx(p.epoch_s + CALIBRATION["first_extra_s"])
    fixed = sum(CALIBRATION[k] for k in ("start_s", "import_s", "build_s", "compile_s"))
    # the warm-up's throw-away steps: one of 32, one of 8 (the last batch), one test batch
    assert p.warm_up_s > 0 and p.sweep_s == 0  # no sweep asked for
    wall = fixed + p.warm_up_s + p.load_s + 0.2 + 3 * p.epoch_s + p.test_s
    assert p.wall_s == pytest.approx(wall)


def test_thread_sweep_follows_the_sweeps_schedule():
    from dlbench.measure.estimate import ThreadSweep

    sweep = ThreadSweep(counts=(1, 2), steps=60, rounds=3, budget_s=1.5)
    # a turn's share of the budget is 0.25 s: a 0.1 s step times 2 steps after its untimed
    # one (0.3 s a turn), 3 rounds of 2 counts
    assert sweep.seconds(lambda c: 0.1) == pytest.approx(1.8)
    # a tiny step is capped at 60 / 3 = 20 timed steps a turn: 6 turns of 21 steps
    assert sweep.seconds(lambda c: 0.001) == pytest.approx(6 * 21 * 0.001)
    # a slow step: one round (at least one timed step each), then the budget is spent
    assert sweep.seconds(lambda c: 1.0) == pytest.approx(4.0)
    # each count at its own speed
    assert sweep.seconds(lambda c: 0.2 / c) == pytest.approx(3 * (2 * 0.2 + 3 * 0.1))


def test_a_sweeping_run_adds_its_sweep_less_the_calibrations_own():
    from dataclasses import replace

    from dlbench.measure.estimate import ThreadSweep

    preset = PRESETS["b-cnn-10k"]
    spec, summary = preset.spec, preset.spec.summary(preset.input_shape)
    kw = {"epochs": 2, "n_val": 0, "n_test": 100, "batch_size": 512, "n_train": 461}
    machine = _machine()
    sweep = ThreadSweep(counts=(1, 2), steps=60, rounds=3, budget_s=1.5)
    plain = predict(spec, summary, machine, **kw)
    swept = predict(spec, summary, machine, sweep=sweep, **kw)
    assert swept.sweep_s > plain.sweep_s == 0
    assert swept.wall_s == pytest.approx(plain.wall_s + swept.sweep_s)
    # a calibration whose tiny model swept too: its sweep comes out of its compile_s
    small = 0.001
    own = sweep.seconds(lambda c: small)
    cal = replace(machine.calibration, small_step_s=small, compile_s=own + 0.5)
    netted = predict(spec, summary, replace(machine, calibration=cal), sweep=sweep, **kw)
    assert netted.wall_s - swept.wall_s == pytest.approx(0.5)  # its compile, not its sweep
    # never below zero: a compile_s shorter than the sweep it holds (noise) counts as none
    cal = replace(machine.calibration, small_step_s=small, compile_s=own / 2)
    short = predict(spec, summary, replace(machine, calibration=cal), sweep=sweep, **kw)
    assert short.wall_s == pytest.approx(swept.wall_s)


def test_more_work_takes_longer():
    preset = PRESETS["b-cnn-100k"]
    spec, summary = preset.spec, preset.spec.summary(preset.input_shape)
    kw = {"epochs": 1, "n_val": 0, "n_test": 100, "batch_size": 64}
    small = predict(spec, summary, _machine(), n_train=640, **kw)
    large = predict(spec, summary, _machine(), n_train=6400, **kw)
    assert large.epoch_s == pytest.approx(10 * small.epoch_s)
    assert small.compute_s > 0 and small.memory_s > 0


def test_convolutions_use_the_convolution_probe():
    from dataclasses import replace

    preset = PRESETS["b-cnn-10k"]
    spec, summary = preset.spec, preset.spec.summary(preset.input_shape)
    kw = {"epochs": 1, "n_val": 0, "n_test": 100, "batch_size": 64, "n_train": 640}
    as_products = predict(spec, summary, _machine(), **kw)
    fast = {k: 1e15 for k in _grid(lambda m, k, n: 1.0)}  # convolutions for free
    as_convs = predict(spec, summary, replace(_machine(), conv_by_shape=fast), **kw)
    conv_names = [info.name for info in summary.layers if info.kind == "conv2d"]
    for name in conv_names:
        assert as_convs.by_layer[name] < as_products.by_layer[name]
    dense = next(info.name for info in summary.layers if info.kind == "dense")
    assert as_convs.by_layer[dense] == pytest.approx(as_products.by_layer[dense])


def test_a_convolutions_backward_reads_its_own_rate():
    """With the backward probed (conv-shapes' "bwd:" keys), a conv layer's backward takes its
    FLOPs over that rate, its forward over the forward's: a backward four times slower (as
    JAX's is on this CPU at a large batch) makes only the backward four times longer."""
    from dataclasses import replace

    from dlbench.spec.cost import layer_costs

    preset = PRESETS["b-cnn-10k"]
    spec, summary = preset.spec, preset.spec.summary(preset.input_shape)
    kw = {"epochs": 1, "n_val": 0, "n_test": 100, "batch_size": 64, "n_train": 640}
    rates = {k: 1e10 for k in _grid(lambda m, k, n: 1.0)}
    same = replace(_machine(), conv_by_shape=rates)
    slow_back = replace(same, conv_backward_by_shape={k: v / 4 for k, v in rates.items()})
    a, b = (predict(spec, summary, m, **kw) for m in (same, slow_back))
    costs = {c.name: c for c in layer_costs(spec, preset.input_shape, 64)}
    for info in summary.layers:
        if info.kind != "conv2d":
            continue
        cost = costs[info.name]
        forward = sum(2 * m * k * n for m, k, n in cost.forward_gemms) / 1e10
        backward = sum(2 * m * k * n for m, k, n in cost.backward_gemms) / 1e10
        steps = kw["n_train"] // kw["batch_size"]
        # compute-bound at these rates: the layer's time is its FLOPs over the rate
        assert a.by_layer[info.name] == pytest.approx(steps * (forward + backward), rel=1e-6)
        assert b.by_layer[info.name] == pytest.approx(steps * (forward + 4 * backward), rel=1e-6)


def test_layer_bandwidth_reads_its_own_kind():
    from dlbench.measure.rates import layer_bandwidth

    by = {"activation:1000": 1e9, "activation:1000000": 1e10, "batchnorm:1000": 5e8}
    assert layer_bandwidth(by, "activation", 1000) == pytest.approx(1e9)
    assert layer_bandwidth(by, "activation", math.sqrt(1e9)) == pytest.approx(math.sqrt(1e19))
    assert layer_bandwidth(by, "batchnorm", 1e6) == pytest.approx(5e8)  # one size: clamped
    assert layer_bandwidth(by, "maxpool", 1000) is None


def test_layer_bandwidth_reads_the_layout_and_channels_probed():
    """A layer reads the rates of its layout and of the probed channel count of its kind
    (whole vector registers or not); a layout not probed reads any; a probe from before
    layouts ("kind:bytes") counts as channels-last at 16 channels."""
    from dlbench.measure.rates import layer_bandwidth, parse_layer_key, probed_channels

    by = {
        "batchnorm/nchw/10:1000": 1e9,
        "batchnorm/nchw/16:1000": 2e9,
        "batchnorm/nhwc/10:1000": 3e9,
        "batchnorm/nhwc/16:1000": 4e9,
    }
    rate = functools.partial(layer_bandwidth, by, "batchnorm", 1000)
    assert rate("nchw", 18) == pytest.approx(1e9)  # 18: not a whole register, read as 10
    assert rate("nchw", 64) == pytest.approx(2e9)  # 64: whole registers, read as 16
    assert rate("nhwc", 10) == pytest.approx(3e9)
    assert rate("nhwc", 0) == pytest.approx(4e9)  # not an image: as whole registers
    only_nhwc = {k: v for k, v in by.items() if "nhwc" in k}
    assert layer_bandwidth(only_nhwc, "batchnorm", 1000, "nchw", 32) == pytest.approx(4e9)
    assert parse_layer_key("maxpool:4096") == ("maxpool", "nhwc", 16, 4096)
    assert parse_layer_key("maxpool/nchw/10:4096") == ("maxpool", "nchw", 10, 4096)
    assert probed_channels({10, 16}, 5) == 10 and probed_channels({16}, 5) == 16
    assert probed_channels({8, 10, 40}, 30) == 40  # same kind, nearest in log2


def test_layer_costs_carry_their_channels():
    from dlbench.spec.cost import layer_costs
    from dlbench.spec.layers import BatchNorm, Conv2d, Dense, Flatten, MaxPool, ModelSpec

    spec = ModelSpec(
        layers=(Conv2d(filters=6, kernel=3, padding=1, activation="relu"), BatchNorm(),
                MaxPool(size=2), Flatten(), Dense(units=10))
    )  # fmt: skip
    channels = [c.channels for c in layer_costs(spec, (1, 8, 8), 4)]
    assert channels == [6, 6, 6, 0, 0]  # a conv's: its output's, where its activation runs


def test_element_wise_layers_use_the_layers_probe():
    """With a layers probe, a batch-norm pass takes its bytes over the batch-norm rate (hand
    computed), and an activation fused into a dense layer becomes a kernel of its own."""
    from dataclasses import replace

    from dlbench.spec.cost import costs_of
    from dlbench.spec.layers import Act, BatchNorm, Dense, Flatten, ModelSpec

    spec = ModelSpec(
        layers=(Flatten(), Dense(units=64, activation="relu"), BatchNorm(), Act(fn="relu"),
                Dense(units=10, activation="softmax")),
        name="t",
    )  # fmt: skip
    summary = spec.summary((1, 8, 8))
    kw = {"epochs": 1, "n_val": 0, "n_test": 0, "batch_size": 32, "n_train": 32}
    rates = {"activation:1": 1e8, "batchnorm:1": 2e8}  # one size each: every tensor that rate
    plain = predict(spec, summary, _machine(), **kw)
    probed = predict(spec, summary, replace(_machine(), layer_by_size=rates), **kw)
    costs = {c.name: c for c in costs_of(spec, summary, 32)}
    bn = costs["bn1"]
    assert probed.by_layer["bn1"] == pytest.approx((bn.forward_bytes + bn.backward_bytes) / 2e8)
    act = costs["act1"]
    assert probed.by_layer["act1"] == pytest.approx((act.forward_bytes + act.backward_bytes) / 1e8)
    dense = costs["dense1"]
    fused_s = (dense.fused_forward_bytes + dense.fused_backward_bytes) / 1e8
    assert dense.fused_forward_bytes == 2 * 32 * 64 * 4  # read and write the 32 x 64 output
    assert probed.by_layer["dense1"] > fused_s
    assert probed.by_layer["dense1"] > plain.by_layer["dense1"]
    assert probed.memory_s > plain.memory_s
