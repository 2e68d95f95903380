"""The estimate reads probes only: stored runs, however many, never change a prediction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dlbench.runner.estimate import MissingProbes, predict_runs, sizes, suite_total_s
from dlbench.spec.run import RunSpec
from dlbench.store.db import Store
from tests.runner.estimate_helpers import store_probes

RUNS = [
    RunSpec(model="a-mlp", dataset="fashion-mnist", framework="torch", epochs=3),
    RunSpec(model="b-cnn-100k", dataset="fashion-mnist", framework="torch", batch_size=512),
    RunSpec(model="a-mlp", dataset="digits", framework="torch", tuning="default", val_fraction=0.1),
]


def test_prediction_does_not_depend_on_stored_runs(tmp_path):
    db = tmp_path / "db.sqlite"
    with Store(db) as store:
        store_probes(store)
        assert store.runs() == []
    empty = predict_runs(RUNS, db)
    # Measured runs of exactly these specs, ten times slower than predicted: if the estimate
    # read them (fitted on what it predicts), its answer would move.
    with Store(db) as store:
        for run, p in zip(RUNS, empty, strict=True):
            store.add_run(
                {
                    "run_id": run.run_id,
                    "model": run.model_name,
                    "framework": run.framework,
                    "device": run.device,
                    "tuning": run.tuning,
                    "batch_size": run.batch_size,
                    "status": "finished",
                    "steady_epoch_s": 10 * p.epoch_s,
                    "first_epoch_s": 10 * p.first_epoch_s,
                    "wall_s": 10 * p.wall_s,
                    "spec": run.resolved(),
                },
                [{"epoch": 1, "epoch_s": 10 * p.epoch_s}],
            )
        assert len(store.runs()) == len(RUNS)
    assert predict_runs(RUNS, db) == empty


def test_missing_probes_name_them_and_the_fix(tmp_path):
    db = tmp_path / "db.sqlite"
    with Store(db) as store:
        store_probes(store)  # torch only
    runs = [*RUNS, RunSpec(model="a-mlp", framework="keras-tf")]
    with pytest.raises(MissingProbes) as err:
        predict_runs(runs, db)
    text = str(err.value)
    assert "calibration keras-tf/tuned on cpu" in text and "gemm-shapes tensorflow" in text
    assert "dlbench probe --calibrate --device cpu --framework keras-tf" in text
    assert "\n" not in text


def test_stale_probes_are_flagged(tmp_path):
    db = tmp_path / "db.sqlite"
    old = (datetime.now(timezone.utc) - timedelta(days=3)).isoformat(timespec="seconds")
    with Store(db) as store:
        store_probes(store, measured_at=old)
    (p,) = predict_runs(RUNS[:1], db)
    assert p.stale and all("72 h old" in s for s in p.stale)


def test_sizes_follow_limits_and_the_validation_split():
    s = sizes(RunSpec(model="a-mlp", limit_train=1000, limit_test=300, val_fraction=0.1))
    assert (s.n_train, s.n_val, s.n_test) == (900, 100, 300)
    assert s.load_bytes == 70000 * 784  # the worker reads whole files, then slices
    assert s.input_shape == (1, 28, 28)


def test_suite_total_counts_each_dataset_once_more_and_each_runs_noise_sample(tmp_path):
    from dlbench.measure.noise import SAMPLE_S

    db = tmp_path / "db.sqlite"
    with Store(db) as store:
        store_probes(store)
    predictions = predict_runs(RUNS, db)
    total = suite_total_s(RUNS, predictions)
    loads = predictions[0].load_s + predictions[2].load_s  # fashion-mnist, digits
    samples = SAMPLE_S * len(RUNS)  # the parent's look at the other processes before each run
    # one run environment (torch, every core, the CPU): one warm process, whose start and
    # import the first run pays; the others are forks of it
    assert all(p.start_import_s > 0 for p in predictions)
    forked = sum(p.start_import_s for p in predictions[1:])
    walls = sum(p.wall_s for p in predictions) - forked
    assert total == pytest.approx(walls + loads + samples)


def test_each_run_environment_pays_its_import_once_as_the_warm_pool_keeps_them(tmp_path):
    from dlbench.runner.estimate import walls_s
    from dlbench.runner.warm import MAX_WARM

    db = tmp_path / "db.sqlite"
    with Store(db) as store:
        store_probes(store)

    def run(threads):  # another thread count: another environment (OMP_NUM_THREADS)
        return RunSpec(model="a-mlp", dataset="digits", framework="torch", threads=threads)

    envs = [run(t) for t in range(1, MAX_WARM + 2)]  # one more than the pool keeps
    order = [envs[0], envs[1], envs[0], *envs[2:], envs[0], envs[1]]
    predictions = predict_runs(order, db)
    cold = [p.wall_s for p in predictions]
    warm = [p.wall_s - p.start_import_s for p in predictions]
    # envs[0], used again before the pool filled, stays warm; envs[1], the least recently used
    # when the (MAX_WARM + 1)-th environment came, was closed and starts again
    n = len(order)
    expected = [cold[0], cold[1], warm[2], *cold[3 : n - 2], warm[n - 2], cold[n - 1]]
    assert walls_s(order, predictions) == pytest.approx(expected)


def test_device_profile_scales_to_the_spec_sheet(tmp_path):
    db = tmp_path / "db.sqlite"
    with Store(db) as store:
        store_probes(store)
    run = [RUNS[1]]
    (here,) = predict_runs(run, db)
    (h100,) = predict_runs(run, db, profile="h100-sxm")
    assert h100.profile == "h100-sxm" and here.profile is None
    assert h100.compute_s < here.compute_s / 10  # 67 TFLOP/s against the probes' 100 GFLOP/s
    assert h100.overhead_s == pytest.approx(here.overhead_s)  # the framework's cost stays


def test_the_runs_that_sweep_their_threads_are_those_the_adapters_sweep():
    from dlbench.frameworks import threads
    from dlbench.runner.estimate import thread_sweep

    def run(**kw):
        return RunSpec(**{"model": "a-mlp", "dataset": "digits", "tuning": "tuned", **kw})

    sweeps = len(threads.candidates(threads.usable_cores())) > 1  # one core: nothing to sweep
    got = thread_sweep(run(framework="torch"))
    assert (got is not None) == sweeps
    if got:
        assert got.counts == tuple(threads.candidates(threads.usable_cores()))
        assert (got.steps, got.rounds, got.budget_s) == (
            threads.STEPS,
            threads.ROUNDS,
            threads.BUDGET_S,
        )
    assert (thread_sweep(run(framework="keras-torch")) is not None) == sweeps
    for fixed in ("keras-tf", "keras-jax", "torch-compile"):  # their threads are set at start
        assert thread_sweep(run(framework=fixed)) is None
    assert thread_sweep(run(framework="torch", threads=1)) is None  # forced
    assert thread_sweep(run(framework="torch", tuning="default")) is None
    assert thread_sweep(run(framework="torch", device="cuda")) is None
