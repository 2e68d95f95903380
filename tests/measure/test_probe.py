"""The GEMM probe: a positive figure per dtype, in its own process, stored per machine."""

from __future__ import annotations

import pytest

from tests.conftest import needs_torch

pytestmark = needs_torch


def test_probe_in_process():
    from dlbench.runner.probe import measure
    from dlbench.spec.precision import cpu_has_bf16

    records = measure("cpu", reps=1, sizes=(64, 128))
    # bfloat16 is probed where the CPU has its instructions (this project's machines do)
    assert [r["dtype"] for r in records] == ["float32"] + ["bfloat16"] * cpu_has_bf16()
    for record in records:
        assert record["device"] == "cpu"
        assert record["flops_per_s"] > 1e6 and record["size"] in (64, 128)
        assert set(record["by_size"]) == {"64", "128"}
        assert record["library"].startswith("torch ")


def test_cpu_plan_follows_the_cpus_bfloat16_instructions(monkeypatch):
    from dlbench.measure import probe

    monkeypatch.setattr(probe, "cpu_has_bf16", lambda: True)
    assert [d for d, _ in probe.plan("cpu")] == ["float32", "bfloat16"]
    monkeypatch.setattr(probe, "cpu_has_bf16", lambda: False)
    assert [d for d, _ in probe.plan("cpu")] == ["float32"]
    assert [d for d, _ in probe.plan("cuda:0")] == ["float32", "tf32", "bfloat16"]


@pytest.mark.slow  # a child process per library
def test_probe_subprocess_and_peak(tmp_path):
    from dlbench.measure.fingerprint import machine_fingerprint
    from dlbench.measure.probe import cpu_dtypes
    from dlbench.runner.probe import libraries, run_probe
    from dlbench.spec.run import RunSpec
    from dlbench.store.db import Store

    records = run_probe("cpu", threads=1, sizes=(128,))
    assert [r["dtype"] for r in records] == list(cpu_dtypes())
    assert records[0]["threads"] == 1 and records[0]["hostname"]
    # every installed library was timed in every dtype, and each dtype's peak is the fastest
    libs = libraries("cpu")
    assert libs[0] == "torch"
    for record in records:
        if len(libs) == 1:
            break
        listed = record["library"].split("GFLOP/s: ")[1].rstrip(")").split(", ")
        figures = {item.split()[0]: float(item.split()[1]) for item in listed}
        assert set(figures) == set(libs) and min(figures.values()) > 0
        assert record["flops_per_s"] / 1e9 == pytest.approx(max(figures.values()), abs=0.5)
        assert record["library"].split()[0] == max(figures, key=figures.__getitem__)
    fp = {**machine_fingerprint(), "cpu": records[0]["cpu"], "threads": 1}
    with Store(tmp_path / "p.sqlite") as store:
        for r in records:
            store.add_probe(r)
        stored = store.probes()
        for rid, precision in (("f", "float32"), ("b", "bf16-mixed")):
            spec = RunSpec(precision=precision).resolved()
            store.add_run({"run_id": rid, "status": "finished", "device": "cpu",
                           "fingerprint": fp, "spec": spec}, [])  # fmt: skip
        peaks = {r["run_id"]: r["peak_flops_per_s"] for r in store.runs()}
    assert stored[0]["flops_per_s"] == pytest.approx(records[0]["flops_per_s"])
    assert stored[0]["by_size"] == {"128": pytest.approx(records[0]["flops_per_s"])}
    # a bf16-mixed run's "% of peak" reads against the bfloat16 probe, a float32 run's not
    by_dtype = {r["dtype"]: r["flops_per_s"] for r in records}
    assert peaks["f"] == pytest.approx(by_dtype["float32"])
    assert peaks["b"] == (pytest.approx(by_dtype["bfloat16"]) if "bfloat16" in by_dtype else None)


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
