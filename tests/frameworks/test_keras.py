"""The Keras adapter on each backend: the spec's counts for every preset, a run through the
worker, tunings, weights, feature maps, devices.

Keras fixes its backend at import, so each backend is probed in a process of its own (started
with the runner's environment, as a run is): the probe builds every preset, runs the worker and
prints what it saw as one JSON line. The three probes run side by side. Parameter counts are
checked against the spec's, which tests/frameworks/test_torch.py pins to PyTorch's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from dlbench.frameworks import missing_packages
from dlbench.spec import PRESETS, summarize
from tests.conftest import script_json

pytestmark = [pytest.mark.keras, pytest.mark.slow]  # every test reads a probe's child process

BACKENDS = ("keras-tf", "keras-jax", "keras-torch")
MARKER = "KERAS-PROBE "

PROBE = r"""
import dataclasses, json, math, sys, tempfile
from pathlib import Path

import numpy as np

from dlbench.errors import UserError
from dlbench.frameworks import keras as kb
from dlbench.frameworks.base import PreparedData
from dlbench.runner.worker import Events, run_job
from dlbench.spec import PRESETS, make_run

out = {"framework": kb.FRAMEWORK, "backend": kb.BACKEND}
out["devices"] = [dataclasses.asdict(d) for d in kb.devices()]
other = "keras-jax" if kb.FRAMEWORK != "keras-jax" else "keras-tf"
try:
    kb.check_backend(other)
    out["mismatch"] = None
except UserError as exc:
    out["mismatch"] = str(exc)


class Quiet(Events):
    def __init__(self):
        self.sent = []

    def send(self, event, **fields):
        self.sent.append(event)


def job(**fields):
    run = {"model": "a-mlp", "dataset": "digits", "framework": kb.FRAMEWORK, "epochs": 2,
           "val_fraction": 0.1, "threads": 1, **fields}
    return {"run": make_run(run).model_dump(mode="json"), "artifacts_dir": tempfile.mkdtemp()}


sink = Quiet()
res = run_job(job(tuning="tuned"), sink)
keep = ("status", "message", "compile_s", "first_epoch_s", "steady_epoch_s", "train_s",
        "test_s", "test_acc", "test_loss", "confusion", "weights_path", "options", "epochs")
out["tuned"] = {k: res.get(k) for k in keep}
out["events"] = sorted(set(sink.sent))
res = run_job(job(tuning="default"), Quiet())
out["default"] = {k: res.get(k) for k in keep}
# No --threads under `tuned`: swept in warm-up where the backend can change its threads.
res = run_job(job(tuning="tuned", threads=None, epochs=1), Quiet())
out["swept"] = {k: res.get(k) for k in keep}

# The GPU path: the same run on the first GPU when this backend sees one, else the refusal.
if any(d["available"] and d["device"].startswith("cuda") for d in out["devices"]):
    res = run_job(job(device="cuda"), Quiet())
    out["cuda"] = {k: res.get(k) for k in keep}
else:
    try:
        kb.keras_device("cuda")
    except UserError as exc:
        out["cuda_refused"] = str(exc)

# After the runs: TensorFlow takes its thread counts only before its runtime starts.
# Counts do not depend on the initial values: built as a run with an initialiser builds them,
# without drawing Keras' own (an XLA compilation per shape on JAX, half a minute for all).
out["params"] = {n: kb.build_model(p.spec, p.input_shape, overwritten=True).trainable_params
                 for n, p in PRESETS.items()}

# Weights, predictions and feature maps of a small CNN.
from dlbench.data import load_dataset, normalize

ds = load_dataset("digits", limit_train=256, limit_test=64)
x, xt = normalize(ds.x_train, "scale"), normalize(ds.x_test, "scale")
data = PreparedData(x, ds.y_train, x[:0], ds.y_train[:0], xt, ds.y_test, 10, ds.class_names)
run = make_run({"model": {"builder": "cnn", "conv_channels": [1, 4, 6], "dense_sizes": [12, 10]},
                "dataset": "digits", "framework": kb.FRAMEWORK, "epochs": 1, "init": "he-normal"})
a = kb.Trainer(run, data, "cpu")
a.fit(lambda r: True)
path = Path(tempfile.mkdtemp()) / f"w{kb.WEIGHTS_SUFFIX}"
a.save(path)
b = kb.Trainer(run.model_copy(update={"seed": 5}), data, "cpu")
before = b.predict(xt)
b.load(path)
probs = a.predict(xt)
maps = a.activations(xt[:3], ["conv1", "pool2", "flatten1", "nope"])
out["weights"] = {
    "same_after_load": bool(np.allclose(b.predict(xt), probs, atol=1e-6)),
    "differed_before": bool(not np.allclose(before, probs, atol=1e-3)),
    "prob_sums": float(np.abs(probs.sum(axis=1) - 1).max()),
    "maps": {k: list(v.shape) for k, v in maps.items()},
    # torch's flatten order: the flattened pool2 map, channels first.
    "flatten_is_chw": bool(np.array_equal(maps["flatten1"], maps["pool2"].reshape(3, -1))),
}
print("KERAS-PROBE " + json.dumps(out), flush=True)
"""


def _probe(framework: str) -> dict:
    return script_json(PROBE, framework=framework, marker=MARKER)


@pytest.fixture(scope="module")
def probes() -> dict[str, dict]:
    installed = [fw for fw in BACKENDS if not missing_packages(fw)]
    if not installed:
        pytest.skip("keras with a backend is not installed: pip install 'dlbench[keras]'")
    with ThreadPoolExecutor(len(installed)) as pool:
        return dict(zip(installed, pool.map(_probe, installed), strict=True))


@pytest.fixture(params=BACKENDS)
def probe(request, probes) -> dict:
    if request.param not in probes:
        pytest.skip(
            f"{request.param} is not installed: {', '.join(missing_packages(request.param))}"
        )
    return probes[request.param]


def test_every_preset_has_the_specs_parameter_count(probe):
    expected = {n: summarize(p.spec, p.input_shape).params for n, p in PRESETS.items()}
    assert probe["params"] == expected


def test_the_backend_is_the_one_asked_for(probe):
    assert probe["framework"] in BACKENDS
    assert probe["mismatch"] and "KERAS_BACKEND" in probe["mismatch"]


def test_devices_show_the_cpu_and_say_why_no_gpu(probe):
    devices = probe["devices"]
    assert devices[0]["device"] == "cpu" and devices[0]["available"]
    assert all(d["framework"] == probe["framework"] for d in devices)
    gpus = [d for d in devices if d["device"].startswith("cuda")]
    assert gpus and (all(d["available"] for d in gpus) or gpus[0]["reason"])


def test_the_gpu_runs_or_is_refused_with_its_reason(probe):
    if "cuda" in probe:
        res = probe["cuda"]
        assert res["status"] == "finished", res["message"]
        assert res["options"]["device_name"] != probe["tuned"]["options"]["device_name"]
    else:
        assert "use --device cpu" in probe["cuda_refused"]
        assert any(w in probe["cuda_refused"] for w in ("CPU-only", "no GPU"))


def test_a_run_through_the_worker(probe):
    res = probe["tuned"]
    assert res["status"] == "finished", res["message"]
    assert len(res["epochs"]) == 2
    for e in res["epochs"]:
        assert e["epoch_s"] > 0 and e["val_s"] > 0
        assert 0 <= e["train_acc"] <= 1 and e["val_loss"] > 0
    assert res["epochs"][1]["train_loss"] < res["epochs"][0]["train_loss"]
    assert res["test_acc"] > 0.5 and res["test_s"] > 0 and math_isfinite(res["test_loss"])
    assert sum(map(sum, res["confusion"])) == 359  # digits' test split (1797 - 1438)
    assert res["weights_path"].endswith(".weights.h5")
    assert res["compile_s"] > 0  # warm-up traced (and compiled) before the clock
    assert {"start", "epoch"} <= set(probe["events"])
    opts = res["options"]
    assert opts["keras_backend"] == probe["backend"] and opts["threads"] == 1
    assert opts["steps_per_execution"] == (1 if probe["backend"] == "torch" else 32)
    assert opts["jit_compile"] == (probe["backend"] != "torch")


def test_threads_swept_where_the_backend_can_change_them(probe):
    """keras-torch sweeps in warm-up (inside compile_s); TensorFlow and XLA:CPU size their
    pools when their runtime starts, so their count stays, with the reason stored."""
    swept = probe["swept"]
    assert swept["status"] == "finished", swept["message"]
    opts = swept["options"]
    assert probe["tuned"]["options"]["threads_chosen_by"] == "forced (--threads 1)"
    if probe["backend"] == "torch":
        assert opts["threads_chosen_by"] == "sweep", opts
        assert str(opts["threads"]) in opts["thread_sweep"]
        assert 0 < opts["sweep_s"] <= swept["compile_s"]
    else:
        why = {"tensorflow": "TensorFlow's thread pools", "jax": "XLA:CPU"}[probe["backend"]]
        assert opts["threads_chosen_by"].startswith(f"fixed: {why}"), opts
        assert "thread_sweep" not in opts
    assert probe["default"]["options"]["threads_chosen_by"] == "forced (--threads 1)"


def test_tunings_train_the_same_model(probe):
    """`tuned` changes how fast, not what: the same epoch losses (XLA rounds differently)."""
    tuned, default = probe["tuned"], probe["default"]
    assert default["status"] == "finished", default["message"]
    assert default["options"]["steps_per_execution"] == 1
    for a, b in zip(tuned["epochs"], default["epochs"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["train_acc"] == pytest.approx(b["train_acc"], abs=2e-3)


def test_weights_predictions_and_feature_maps(probe):
    w = probe["weights"]
    assert w["same_after_load"] and w["differed_before"]
    assert w["prob_sums"] < 1e-5
    # digits are 8x8: conv1 keeps 8x8 (padding 1), two pools leave 2x2; NCHW like torch.
    assert w["maps"] == {"conv1": [3, 4, 8, 8], "pool2": [3, 6, 2, 2], "flatten1": [3, 24]}
    assert w["flatten_is_chw"]


def math_isfinite(x) -> bool:
    import math

    return x is not None and math.isfinite(x)


OVERWRITTEN = r"""
import json
import numpy as np
from dlbench.frameworks.keras.model import build_model
from dlbench.spec.run import RunSpec

same = {}
for init in ("he-normal", "shared"):
    run = RunSpec.model_validate({"model": "a-torch-cnn", "dataset": "fashion-mnist",
                                  "framework": "keras-jax", "init": init})
    built = [build_model(run.model_spec(), (1, 28, 28), overwritten=o) for o in (False, True)]
    for b in built:
        b.initialise(run)
    a, b = (x.model.get_weights() for x in built)
    same[init] = all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
print("SAME " + json.dumps(same))
"""


def test_kernels_keras_would_draw_then_lose_start_at_zero_to_the_same_weights():
    # `overwritten` skips Keras' own Glorot draw (an XLA compilation each on JAX) when the
    # run's initialiser replaces every kernel: the trained model must start identical.
    if missing_packages("keras-jax"):
        pytest.skip("keras-jax is not installed")
    got = script_json(OVERWRITTEN, framework="keras-jax", marker="SAME ")
    assert got == {"he-normal": True, "shared": True}
