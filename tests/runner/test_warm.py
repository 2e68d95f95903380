"""Warm processes (runner/warm.py): runs forked from a process that has imported their
framework train as a fresh process does, each in a process of its own, and a run that dies or
hangs there takes nothing else with it."""

from __future__ import annotations

import pytest

from dlbench.runner.execute import LocalExecutor, execute
from dlbench.spec.run import make_run
from tests.conftest import needs_torch

pytestmark = [needs_torch, pytest.mark.slow]  # the runs train in child processes


def _run(**fields):
    spec = {"model": "a-mlp", "dataset": "digits", "framework": "torch", "epochs": 2,
            "threads": 1, "limit_train": 512, "limit_test": 128, **fields}  # fmt: skip
    return make_run(spec)


def test_forked_runs_train_as_fresh_ones_and_skip_the_import(tmp_path):
    runs = [_run(seed=1), _run(seed=2)]
    warm = execute(runs, tmp_path / "w.sqlite", save=False).results
    cold = execute(runs, tmp_path / "c.sqlite", save=False, executor=LocalExecutor(warm=False))
    cold = cold.results
    assert [r.status for r in warm + cold] == ["finished"] * 4
    # The same arithmetic: the same losses, epoch by epoch, and the same test accuracy.
    for w, c in zip(warm, cold, strict=True):
        assert [e["train_loss"] for e in w.epochs] == [e["train_loss"] for e in c.epochs]
        assert w.test_acc == c.test_acc
        assert w.options["threads"] == c.options["threads"] == 1
    # One warm process for both (one environment): its import is stored with each run; the
    # runs' own processes imported nothing. Fresh processes import, and say no warm one.
    assert warm[0].warm_import_s == warm[1].warm_import_s > 0.2
    assert all(r.import_s < 0.1 for r in warm)
    assert all(r.warm_import_s is None and r.import_s > 0.2 for r in cold)


def test_a_run_killed_in_a_fork_is_a_result_and_the_next_run_still_forks(tmp_path):
    """A run past its timeout is killed (SIGKILL, as a fresh process would be); the warm
    process reaps it and forks the next run."""
    from dlbench.runner.execute import Progress, plan, run_one
    from dlbench.runner.warm import WarmPool

    slow = _run(epochs=500, limit_train=None)  # far longer than the timeout
    with WarmPool() as pool:
        timed_out = run_one(
            plan([slow], None)[0], data_dir=None, artifacts_dir=None, timeout_s=3.0,
            progress=Progress(), warm=pool,
        )  # fmt: skip
        after = run_one(
            plan([_run()], None)[0], data_dir=None, artifacts_dir=None, timeout_s=120.0,
            progress=Progress(), warm=pool,
        )  # fmt: skip
    assert timed_out.status == "timeout" and "raise --timeout" in timed_out.message
    assert after.status == "finished" and after.warm_import_s == timed_out.warm_import_s


def test_a_warm_process_that_cannot_start_says_why_once(capsys):
    from dlbench.runner.process import child_env
    from dlbench.runner.warm import Warm, WarmPool

    env = child_env("torch", 1, "cpu")
    with pytest.raises(RuntimeError, match=r"the warm nope process did not start: .*nope"):
        Warm(env, "nope")
    # In the pool: that environment's runs start fresh processes, and it is not tried again.
    with WarmPool() as pool:
        assert pool.get(env, "nope") is None and pool.get(env, "nope") is None
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and "its runs start fresh processes" in said[0]


def test_a_framework_that_started_its_device_runtime_is_not_forked():
    """Importing JAX starts no backend, so its warm process may fork; once a backend runs
    (jax.devices()), the check says so and the pool would start fresh processes instead."""
    import os
    import subprocess
    import sys

    pytest.importorskip("jax")
    code = (
        "import jax\n"
        "from dlbench.runner.warm import touched_a_device\n"
        "print(repr(touched_a_device()))\n"
        "jax.devices()\n"
        "print(repr(touched_a_device()))\n"
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == ["None", "'JAX has started its backends'"]
