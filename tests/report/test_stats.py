"""Statistics over repeats: centre, spread, bootstrap interval, configurations, warnings."""

from __future__ import annotations

import numpy as np
import pytest

from dlbench.report.stats import (
    NO_CLEAR_DIFFERENCE,
    ONE_RUN,
    bootstrap_interval,
    config_key,
    configurations,
    repeat_warnings,
    summarize,
    verdict,
)
from dlbench.spec.run import make_run
from dlbench.store.db import RunRow

HOST = {"hostname": "h1", "cpu": "Test CPU"}


def fake_run(rid: int, steady: float, *, status="finished", acc=0.9, host=HOST, **spec) -> RunRow:
    """A stored run as the report sees it, without training."""
    fields = {"model": "a-mlp", "dataset": "digits", "epochs": 3, **spec}
    run = make_run(fields)
    values = {
        "run_id": run.run_id,
        "model": run.model_name,
        "dataset": run.dataset,
        "framework": run.framework,
        "device": run.device,
        "status": status,
        "steady_epoch_s": steady,
        "first_epoch_s": steady * 1.1,
        "train_s": steady * 3,
        "test_s": 0.1,
        "test_acc": acc,
        "synthetic": 0,
        "macs": 118016,
        "batch_size": run.batch_size,
        "epochs_done": 3,
        "spec": run.resolved(),
        "fingerprint": dict(host),
    }
    return RunRow(rid, values, [])


def test_summary_of_five():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.n == 5 and s.centre == 3.0 and s.min == 1.0 and s.max == 100.0
    assert s.q1 == 2.0 and s.q3 == 4.0 and s.iqr == 2.0
    assert s.lo <= s.centre <= s.hi
    assert s.interval_text() != ONE_RUN


def test_one_run_has_no_interval():
    s = summarize([2.5, None, float("nan")])
    assert s.n == 1 and s.centre == 2.5
    assert not s.has_interval and s.cv is None
    assert s.interval_text() == ONE_RUN


def test_empty():
    s = summarize([None])
    assert s.n == 0 and s.centre is None and s.interval_text() == "n/a"


def test_trimmed_mean_drops_fastest_and_slowest():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0], centre="trimmed-mean")
    assert s.centre == 3.0  # (2 + 3 + 4) / 3
    assert summarize([1.0, 3.0], centre="trimmed-mean").centre == 2.0  # fewer than 3: mean


def test_bootstrap_is_deterministic_and_contains_the_median():
    values = np.random.default_rng(1).normal(10, 1, 7)
    a = bootstrap_interval(values)
    assert a == bootstrap_interval(values)
    assert a[0] <= float(np.median(values)) <= a[1]
    assert bootstrap_interval([1.0]) is None


def test_verdict():
    a = summarize([1.0, 1.1, 1.05, 0.95, 1.02])
    b = summarize([1.03, 1.08, 0.99, 1.01, 1.04])
    c = summarize([2.0, 2.1, 2.05, 1.95, 2.02])
    assert verdict(a, b) == NO_CLEAR_DIFFERENCE
    assert verdict(a, c) is None
    assert verdict(a, summarize([2.0])) == ONE_RUN


def test_configurations_pool_repeats_only():
    rows = [
        fake_run(1, 1.0, repeat=0),
        fake_run(2, 1.1, repeat=1),
        fake_run(3, 1.2, repeat=2, seed=5),  # a seed is not a configuration
        fake_run(4, 2.0, batch_size=64),
        fake_run(5, 1.0, host={"hostname": "h2", "cpu": "Test CPU"}),  # another machine
        fake_run(6, 9.0, status="failed"),
    ]
    configs = configurations(rows)
    assert [[r.id for r in c.runs] for c in configs] == [[1, 2, 3], [4], [5]]
    assert configs[0].summary("steady_epoch_s").centre == 1.1
    assert config_key(rows[0], ("batch_size",)) == config_key(rows[3], ("batch_size",))
    assert config_key(rows[0], keep=("repeat",)) != config_key(rows[1], keep=("repeat",))


def test_warnings_name_the_fix():
    rows = [fake_run(i, t, repeat=i) for i, t in enumerate([1.0, 1.5, 0.7, 1.2, 0.9])]
    rows += [
        fake_run(10, 0.5, device="cpu", batch_size=8),
        fake_run(11, 0.8, batch_size=8, device="cuda"),
    ]
    lines = repeat_warnings(configurations(rows))
    # five noisy runs already: more repeats are not the fix; the line names its runs
    assert any(
        "(runs 0, 1, 2, 3, 4)" in line
        and "check the machine is quiet" in line
        and "add --repeats" not in line
        for line in lines
    )
    assert any("too small to feed the GPU" in line and "crossover" in line for line in lines)
    few = [fake_run(i, t, repeat=i) for i, t in enumerate([1.0, 1.5, 0.7])]
    assert "add --repeats" in repeat_warnings(configurations(few))[0]
    short = [fake_run(i, t, repeat=i) for i, t in enumerate([0.2, 0.3, 0.14, 0.24, 0.18])]
    assert "epochs of 0.2 s time noisily" in repeat_warnings(configurations(short))[0]


@pytest.mark.parametrize("metric", ["steady_epoch_s", "train_s", "test_s", "test_acc"])
def test_every_metric(metric):
    rows = [fake_run(i, 1.0 + i / 10, repeat=i) for i in range(3)]
    (config,) = configurations(rows)
    assert config.summary(metric).n == 3
