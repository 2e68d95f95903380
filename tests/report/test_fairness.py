"""Fairness warnings: what differs between runs set side by side, besides what is compared."""

from __future__ import annotations

import pytest

from dlbench.report.fairness import FIELDS, fairness_warnings
from dlbench.spec.layers import Dense, Flatten, ModelSpec
from dlbench.spec.run import make_run
from dlbench.store.db import RunRow


def row(run_id: int, status: str = "finished", **fields) -> RunRow:
    fields = {"model": "a-mlp", "dataset": "digits", **fields}
    run = make_run(fields)
    values = {
        "spec": run.resolved(),
        "status": status,
        "model": run.model_name,
        "framework": run.framework,
        "device": run.device,
        "lr": run.lr,
    }
    return RunRow(run_id, values, [])


def test_same_settings_in_every_framework_is_fair():
    rows = [row(1, framework="torch"), row(2, framework="keras-tf"), row(3, framework="keras-jax")]
    assert fairness_warnings(rows, "framework") == []
    assert fairness_warnings(rows, None) == []


def test_different_learning_rates_are_named_with_their_runs():
    rows = [
        row(1, framework="torch"),
        row(2, framework="torch", device="cuda"),
        row(3, framework="keras-tf", lr=0.01),
    ]
    assert fairness_warnings(rows, "framework") == [
        "runs differ in lr (0.001 in runs 1, 2; 0.01 in run 3): their times and accuracies "
        "are not comparable"
    ]
    assert fairness_warnings(rows, None) == fairness_warnings(rows, "framework")


def test_the_compared_field_is_not_a_warning():
    rows = [row(1, lr=0.001), row(2, lr=0.01)]
    assert fairness_warnings(rows, "lr") == []
    # a table of one framework mixing two rates: compared with each other, so named
    assert "runs differ in lr" in fairness_warnings(rows, None)[0]


def test_every_differing_setting_gets_one_line():
    base = {"framework": "torch"}
    other = {
        "framework": "keras-jax",
        "optimizer": "sgd",
        "momentum": 0.9,
        "batch_size": 64,
        "init": "he-normal",
        "epochs": 5,
        "normalize": "l2-rows",
        "threads": 1,
        "tuning": "default",
        "eps": 1e-8,
        "loss": "crossentropy",
        "limit_train": 500,
        "limit_test": 100,
        "val_fraction": 0.1,
    }
    lines = fairness_warnings([row(1, **base), row(2, **other)], "framework")
    named = [line.split(" (")[0].removeprefix("runs differ in ") for line in lines]
    assert named == [f for f in FIELDS if f in other]
    assert "threads (every core in run 1; 1 in run 2)" in " ".join(lines)


def test_a_sweep_run_in_every_framework_is_fair():
    rows = [
        row(i, framework=fw, lr=lr)
        for i, (fw, lr) in enumerate(
            [("torch", 0.001), ("torch", 0.01), ("keras-tf", 0.001), ("keras-tf", 0.01)], start=1
        )
    ]
    assert fairness_warnings(rows, "framework") == []


def test_models_are_compared_by_layers_and_coverage():
    # several models, each in both frameworks, and one more in torch only: fair
    rows = [
        row(1, framework="torch"),
        row(2, framework="keras-tf"),
        row(3, model="d-mlp", framework="torch"),
        row(4, model="d-mlp", framework="keras-tf"),
        row(5, model="b-fcn-50k", framework="torch"),
    ]
    assert fairness_warnings(rows, "framework") == []
    # torch on one model, Keras on another: never compared on the same thing
    lines = fairness_warnings([rows[0], rows[3]], "framework")
    assert lines == [
        "runs differ in model (a-mlp in run 1; d-mlp in run 4): their times "
        "and accuracies are not comparable"
    ]
    # one name, other layers
    wide = ModelSpec(
        name="a-mlp",
        layers=(
            Flatten(),
            Dense(units=64, activation="relu"),
            Dense(units=10, activation="softmax"),
        ),
    )
    lines = fairness_warnings(
        [row(1, framework="torch"), row(2, framework="keras-tf", model=wide.model_dump())],
        "framework",
    )
    assert lines == [
        "runs differ in model (a-mlp in run 1; a-mlp (other layers, 2) in run 2): "
        "their times and accuracies are not comparable"
    ]


def test_device_comparison_ignores_framework_partners():
    rows = [
        row(1, device="cpu"),
        row(2, device="cuda"),
        row(3, framework="keras-tf", device="cpu", batch_size=100),
    ]
    # by device: torch cpu vs torch cuda is fair; keras-tf ran on the CPU only but with
    # another batch size, which sits beside the CPU runs
    lines = fairness_warnings(rows, "device")
    assert len(lines) == 1 and lines[0].startswith(
        "runs differ in batch_size (32 in runs 1, 2; 100 in run 3)"
    )


@pytest.mark.parametrize("status", ["failed", "timeout", "oom"])
def test_runs_without_figures_are_left_out(status):
    rows = [row(1, framework="torch"), row(2, framework="keras-tf", lr=0.1, status=status)]
    assert fairness_warnings(rows, "framework") == []


def test_one_compared_value_alone_is_nothing_compared():
    assert fairness_warnings([row(1), row(2, lr=0.1)], "framework") == []
    assert fairness_warnings([], None) == []


def test_runs_differing_in_precision_or_tf32_are_named():
    rows = [
        row(1, framework="torch"),
        row(2, framework="keras-tf", precision="bf16-mixed"),
        row(3, framework="torch", device="cuda"),
        row(4, framework="keras-tf", device="cuda", tf32="on"),
    ]
    lines = fairness_warnings(rows, "framework")
    assert any(line.startswith("runs differ in precision (float32 in runs 1, 3") for line in lines)
    # a spec leaves tf32 out at its default: it reads as off, not as none
    assert any(
        line.startswith("runs differ in tf32 (off in runs 1, 2, 3; on in run 4)") for line in lines
    )
    # compared by precision, precision is what differs on purpose
    same = [row(1), row(2, precision="bf16-mixed")]
    assert fairness_warnings(same, "precision") == []
