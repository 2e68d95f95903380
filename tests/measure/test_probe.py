"""The GEMM probe: a positive figure per dtype, in its own process, stored per machine."""

from __future__ import annotations

import pytest

from tests.conftest import needs_torch

pytestmark = needs_torch


def test_probe_in_process():
    from dlbench.runner.probe import measure

    (record,) = measure("cpu", reps=1, sizes=(64, 128))
    assert record["dtype"] == "float32" and record["device"] == "cpu"
    assert record["flops_per_s"] > 1e6 and record["size"] in (64, 128)
    assert set(record["by_size"]) == {"64", "128"}
    assert record["library"].startswith("torch ")


@pytest.mark.slow  # a child process per library
def test_probe_subprocess_and_peak(tmp_path):
    from dlbench.runner.probe import libraries, run_probe
    from dlbench.store.db import Store

    records = run_probe("cpu", threads=1, sizes=(128,))
    assert records[0]["threads"] == 1 and records[0]["hostname"]
    # every installed library was timed, and the peak is the fastest of them
    libs = libraries("cpu")
    assert libs[0] == "torch"
    if len(libs) > 1:
        listed = records[0]["library"].split("GFLOP/s: ")[1].rstrip(")").split(", ")
        figures = {item.split()[0]: float(item.split()[1]) for item in listed}
        assert set(figures) == set(libs)
        assert records[0]["flops_per_s"] / 1e9 == pytest.approx(max(figures.values()), abs=0.5)
        assert records[0]["library"].split()[0] == max(figures, key=figures.__getitem__)
    with Store(tmp_path / "p.sqlite") as store:
        for r in records:
            store.add_probe(r)
        (stored,) = store.probes()
    assert stored["flops_per_s"] == pytest.approx(records[0]["flops_per_s"])
    assert stored["by_size"] == {"128": pytest.approx(records[0]["flops_per_s"])}


def test_percent_of_peak_uses_the_latest_probe_of_the_machine(tmp_path):
    from dlbench.report.columns import COLUMNS
    from dlbench.store.db import Store

    fp = {"hostname": "h1", "cpu": "Test CPU", "threads": 2}
    probe = {"hostname": "h1", "cpu": "Test CPU", "device": "cpu", "dtype": "float32"}
    with Store(tmp_path / "p.sqlite") as store:
        store.add_probe({**probe, "flops_per_s": 1e11, "threads": 2})
        store.add_probe({**probe, "flops_per_s": 2e11, "threads": 2})  # the latest
        store.add_probe({**probe, "flops_per_s": 9e11, "threads": 1})  # other thread count
        store.add_probe({**probe, "flops_per_s": 8e11, "threads": 2, "hostname": "h2"})
        store.add_probe({**probe, "flops_per_s": 7e11, "threads": 2, "dtype": "bfloat16"})
        store.add_run(
            {
                "run_id": "a",
                "status": "finished",
                "device": "cpu",
                "fingerprint": fp,
                "achieved_flops_per_s": 1e10,
            },  # fmt: skip
            [],
        )
        store.add_run(
            {"run_id": "b", "status": "finished", "device": "cuda", "fingerprint": fp}, []
        )
        a, b = store.runs()
    assert a["peak_flops_per_s"] == 2e11 and b["peak_flops_per_s"] is None
    of_peak = next(c for c in COLUMNS if c.key == "of_peak")
    assert of_peak.value(a) == 0.05 and of_peak.fmt(of_peak.value(a)) == "5.0%"
    assert of_peak.fmt(of_peak.value(b)) == "n/a"


def test_percent_of_peak_reads_against_the_dtype_the_run_computed_in(tmp_path):
    from dlbench.spec.run import RunSpec
    from dlbench.store.db import Store

    fp = {"hostname": "h1", "cpu": "Test CPU", "threads": 2}
    probe = {"hostname": "h1", "cpu": "Test CPU", "threads": 2}
    specs = {
        "f": RunSpec(),
        "b": RunSpec(precision="bf16-mixed"),
        "t": RunSpec(device="cuda:0", tf32="on"),
        "h": RunSpec(device="cuda:0", precision="fp16-mixed"),
    }
    with Store(tmp_path / "p.sqlite") as store:
        for device, dtype, flops in [
            ("cpu", "float32", 1e11),
            ("cpu", "bfloat16", 3e11),
            ("cuda:0", "float32", 2e13),
            ("cuda:0", "tf32", 1e14),
            ("cuda:0", "bfloat16", 4e14),
        ]:
            store.add_probe({**probe, "device": device, "dtype": dtype, "flops_per_s": flops})
        for rid, spec in specs.items():
            values = {"run_id": rid, "status": "finished", "device": spec.device}
            store.add_run({**values, "fingerprint": fp, "spec": spec.resolved()}, [])
        peaks = {r["run_id"]: r["peak_flops_per_s"] for r in store.runs()}
    # no float16 probe: no peak rather than the float32 one
    assert peaks == {"f": 1e11, "b": 3e11, "t": 1e14, "h": None}
