"""What a run's own process imports: what the run uses, nothing more.

The worker's part (dlbench's own modules) must not load plotting, dataframes, tracking or
cluster libraries, nor the database module; a Keras run on JAX or PyTorch must not load
TensorFlow (Keras' `set_random_seed` did, to seed it), and no Keras run loads what Keras only
imports for features a run never uses (frameworks/keras/chosen.py hides those). The framework
runs are real: the worker's `run_job` on 64 generated samples, one epoch, in the framework's
environment as the runner starts it.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import has_module, run_script, script_json

NEVER = ("matplotlib", "pandas", "mlflow", "ray", "sklearn")
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")
WATCH = (*NEVER, *FRAMEWORKS, "dlbench.store.db", "torch._dynamo")

WORKER_IMPORTS = f"""
import json, sys
import dlbench.runner.worker
# What run_job imports before it asks for the framework's adapter.
from dlbench.data import load_dataset, prepare
from dlbench.errors import UserError, exception_line
from dlbench.frameworks import adapter
from dlbench.frameworks.base import confusion_matrix
from dlbench.measure import peak_rss_bytes
from dlbench.measure.energy import EnergyMeter
from dlbench.measure.noise import LoadMeter
from dlbench.spec.run import RunSpec
load_dataset("synthetic:1x8x8:64")
print(json.dumps(sorted(m for m in {WATCH!r} if m in sys.modules)))
"""

RUN = f"""
import json, os, sys
from dlbench.runner.worker import Events, run_job
job = {{"run": {{"model": "a-mlp", "dataset": "synthetic:1x8x8:64", "framework": sys.argv[1],
                 "epochs": 1, "batch_size": 32, "device": "cpu"}}}}
rec = run_job(job, Events(os.open(os.devnull, os.O_WRONLY)))
print("RESULT " + json.dumps({{"status": rec.status, "message": rec.message,
    "modules": sorted(m for m in {WATCH!r} if m in sys.modules)}}))
"""


def test_the_workers_own_imports_are_light() -> None:
    proc = run_script(WORKER_IMPORTS)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == []


def _run(framework: str) -> dict:
    got = script_json(RUN, framework, marker="RESULT ", framework=framework)
    assert got["status"] == "finished", got["message"]
    return got


@pytest.mark.slow
@pytest.mark.keras
@pytest.mark.parametrize("framework", ["keras-jax", "keras-torch"])
def test_keras_off_tensorflow_never_imports_tensorflow(framework: str) -> None:
    backend = framework.removeprefix("keras-")
    if not has_module("keras") or not has_module(backend):
        pytest.skip(f"{framework} is not installed")
    modules = _run(framework)["modules"]
    assert "tensorflow" not in modules
    assert not set(modules) & set(NEVER), modules
    if backend == "torch":
        assert "jax" not in modules  # Keras' orbax shim imports it on every backend


@pytest.mark.slow
@pytest.mark.torch
def test_a_torch_run_imports_torch_and_nothing_it_does_not_use() -> None:
    if not has_module("torch"):
        pytest.skip("torch is not installed")
    modules = _run("torch")["modules"]
    assert "torch" in modules and "torch._dynamo" in modules  # imported with torch: import_s
    assert not set(modules) & {*NEVER, "tensorflow", "keras", "jax"}, modules


PROBE = """
import json, sys
from dlbench.frameworks import adapter
adapter("torch").devices()
print(json.dumps("torch._dynamo" in sys.modules))
"""


@pytest.mark.torch
def test_the_torch_device_probe_does_not_pay_for_what_only_a_run_needs() -> None:
    # torch._dynamo is in the adapter's RUN_IMPORTS: the worker imports it, a probe does not.
    if not has_module("torch"):
        pytest.skip("torch is not installed")
    proc = run_script(PROBE, framework="torch")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) is False
