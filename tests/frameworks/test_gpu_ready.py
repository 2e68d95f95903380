"""What a GPU would expose, shown on the CPU with the device as a parameter: torch's warm-up
(one step per batch shape and an eval batch, everything restored, the peak reset after it), the
options that tell a run's syncs and autotuning, Keras restoring weights inside its device
scope, keras-torch waiting on its own GPU and training from resident batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dlbench.frameworks import missing_packages
from dlbench.spec import make_run


@pytest.fixture
def torch_trainer(digits_data):
    pytest.importorskip("torch")
    from dlbench.frameworks import torch as tb

    def make(**fields):
        run = make_run({"model": "a-mlp", "dataset": "digits", "batch_size": 500, **fields})
        return tb.Trainer(run, digits_data, "cpu")

    return make


def test_torch_warm_up_is_a_restored_throw_away_step_per_shape(torch_trainer):
    import torch

    # Dropout and batch-norm: the warm-up draws random masks and moves running statistics.
    model = {"builder": "mlp", "widths": [32], "batchnorm": True, "dropout": 0.2, "name": "m"}
    trainer = torch_trainer(tuning="tuned", model=model)
    weights = {k: v.clone() for k, v in trainer.net.state_dict().items()}
    rng = torch.get_rng_state()
    calls: list[str] = []
    step, logits, reset = trainer._step, trainer._logits, trainer._reset_peak
    trainer._step = lambda x, y: calls.append(f"step {len(x)}") or step(x, y)
    trainer._logits = lambda x: calls.append(f"eval {len(x)}") or logits(x)
    trainer._reset_peak = lambda: calls.append("reset peak") or reset()
    assert trainer.warm_up() > 0
    n = len(trainer.data.x_train)  # 1,338: a full batch of 500 and the epoch's last 338
    assert calls[:3] == [f"step {n % 500}", "step 500", "eval 100"]
    # then the thread sweep's steps (tuned on a CPU, no --threads), full batches, all before
    # the restore below and the peak's reset
    assert trainer.options["threads_chosen_by"] == "sweep"
    assert set(calls[3:-1]) == {"step 500"} and calls[-1] == "reset peak"
    after = trainer.net.state_dict()
    assert all(torch.equal(weights[k], after[k]) for k in weights)
    assert trainer.optimizer.state_dict()["state"] == {}  # Adam's slots as before
    assert torch.equal(torch.get_rng_state(), rng)  # dropout masks as without a warm-up


def test_torch_options_tell_syncs_and_autotuning(torch_trainer):
    tuned = torch_trainer(tuning="tuned").options
    default = torch_trainer(tuning="default").options
    assert tuned["cudnn_benchmark"] is True and default["cudnn_benchmark"] is False
    assert tuned["host_syncs_per_step"] == 0 and default["host_syncs_per_step"] == 4
    assert tuned["resident_data_bytes"] == 1338 * 64 * 4 + 1338 * 8
    assert default["resident_data_bytes"] == 0 and "cudnn_deterministic" in tuned


def test_torch_phases_bracket_training(torch_trainer):
    trainer = torch_trainer(epochs=2, val_fraction=0.1)
    phases: list[str] = []
    trainer.on_phase = phases.append
    trainer.fit(lambda r: True)
    assert phases == ["train", "validate"] * 2


KERAS_CHILD = r"""
import contextlib, json
import numpy as np
from dlbench.frameworks.keras import trainer as kt
from dlbench.frameworks.keras.chosen import impl
from dlbench.frameworks.base import PreparedData
from dlbench.spec import make_run

rng = np.random.default_rng(0)
x = rng.random((300, 8, 8, 1), dtype=np.float32)
y = rng.integers(0, 10, 300)
data = PreparedData(x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:], 10,
                    tuple(map(str, range(10))))
run = make_run({"model": "a-mlp", "dataset": "digits", "framework": "keras-torch",
                "epochs": 1, "batch_size": 64, "threads": 1})
trainer = kt.Trainer(run, data, "cpu")
out = {"options": {k: trainer.options[k] for k in
       ("data_on_device", "host_syncs_per_step", "resident_data_bytes", "xla_flags")}}

scope = {"in": False}
real_scope = trainer._on_device
@contextlib.contextmanager
def watched():
    with real_scope():
        scope["in"] = True
        try:
            yield
        finally:
            scope["in"] = False
trainer._on_device = watched
writes = []
real_write = kt._write
kt._write = lambda variables, values: writes.append(scope["in"]) or real_write(variables, values)
trainer.warm_up()
trainer.restore(trainer.snapshot())
out["writes_in_scope"] = writes

import torch
waited = []
torch.cuda.synchronize = lambda device=None: waited.append(device)
impl.sync([], 1)
out["synchronized"] = waited
batches = kt.EpochBatches(data.x_train, data.y_train, 64, 0, impl.resident((data.x_train, data.y_train), None))
xb, yb = batches[0]
out["batch_type"] = type(xb).__module__
phases = []
trainer.on_phase = phases.append
trainer.fit(lambda r: True)
out["phases"] = phases
print("CHILD " + json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.keras
@pytest.mark.skipif(bool(missing_packages("keras-torch")), reason="keras and torch needed")
def test_keras_torch_scope_sync_and_resident_batches():
    from dlbench.runner.process import child_env

    env = {**child_env("keras-torch", 1, "cpu"), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", KERAS_CHILD], env=env, capture_output=True, text=True, timeout=300
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("CHILD ")), None)
    assert line, proc.stderr[-2000:]
    out = json.loads(line.removeprefix("CHILD "))
    # Weights restored (after warm-up, and keep: best-val's restore) inside the device scope.
    assert out["writes_in_scope"] == [True, True]
    assert out["synchronized"] == [1]  # cuda:1's run waits on cuda:1, not on cuda:0
    assert out["batch_type"] == "torch"  # batches sliced in place, not copied from numpy
    assert out["options"]["data_on_device"] is True
    assert out["options"]["host_syncs_per_step"] == 0
    assert out["options"]["resident_data_bytes"] == 200 * 64 * 4 + 200 * 8
    assert out["phases"] == ["train", "validate"]  # one epoch: the window pauses once
