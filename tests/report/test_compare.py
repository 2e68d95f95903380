"""`compare`: groups differing in one field, ratios, the relative column, verdicts, exports."""

from __future__ import annotations

import csv
import io
import json

import pytest

from dlbench.errors import UserError
from dlbench.report import comparison
from dlbench.report.stats import NO_CLEAR_DIFFERENCE, ONE_RUN
from tests.report.test_stats import fake_run


def _device_rows():
    """a-mlp on the CPU (4 s an epoch) and the GPU (1 s), 3 repeats each; a b-cnn-20k on the
    CPU only (one run); and a-mlp at another batch size, CPU and GPU, overlapping."""
    rows = []
    i = 0
    for dev, times in (("cpu", (4.0, 4.2, 3.9)), ("cuda:0", (1.0, 1.1, 0.95))):
        for rep, t in enumerate(times):
            i += 1
            rows.append(fake_run(i, t, device=dev, repeat=rep))
    rows.append(fake_run(20, 7.0, model="b-cnn-20k", device="cpu"))
    for dev, times in (("cpu", (1.0, 1.2, 0.9)), ("cuda:0", (1.1, 0.95, 1.15))):
        for rep, t in enumerate(times):
            i += 1
            rows.append(fake_run(i + 30, t, device=dev, repeat=rep, batch_size=8))
    return rows


def test_speedup_is_cpu_over_gpu():
    comp = comparison.compare(_device_rows(), "device")
    first = comp.groups[0]
    assert first.baseline == "cpu"
    cpu, gpu = first.entries
    assert cpu.verdict == "baseline" and cpu.ratio == pytest.approx(1.0)
    assert gpu.ratio == pytest.approx(4.0 / 1.0)  # medians: T_cpu / T_gpu
    assert gpu.relative == pytest.approx(1.0) and cpu.relative == pytest.approx(4.0)
    assert gpu.verdict == "faster"


def test_overlap_and_one_run():
    comp = comparison.compare(_device_rows(), "device")
    by_title = {g.title: g for g in comp.groups}
    cnn = next(g for t, g in by_title.items() if t.startswith("b-cnn-20k"))
    assert len(cnn.entries) == 1 and cnn.entries[0].summary.n == 1
    small = next(g for t, g in by_title.items() if "batch_size=8" in t)
    assert small.entries[1].verdict == NO_CLEAR_DIFFERENCE


def test_one_run_each_side():
    rows = [fake_run(1, 2.0, device="cpu"), fake_run(2, 1.0, device="cuda:0")]
    (group,) = comparison.compare(rows, "device").groups
    assert group.entries[1].verdict == ONE_RUN


def test_accuracy_difference_in_points():
    rows = [fake_run(1, 1.0, acc=0.80), fake_run(2, 1.0, acc=0.85, framework="keras-tf")]
    (group,) = comparison.compare(rows, "framework", metric="test_acc").groups
    torch_e, keras_e = group.entries
    assert group.baseline == "torch"
    assert keras_e.ratio == pytest.approx(5.0)  # percentage points
    assert keras_e.relative == pytest.approx(1.0) and keras_e.verdict == ONE_RUN


def test_any_spec_field_and_baseline():
    rows = [fake_run(i, 1.0 + (i % 2), batch_size=[32, 64][i % 2], repeat=i // 2) for i in range(6)]
    comp = comparison.compare(rows, "batch_size", baseline="64")
    (group,) = comp.groups
    assert [e.value for e in group.entries] == ["32", "64"]
    assert group.baseline == "64"
    assert group.entries[0].ratio == pytest.approx(2.0) and group.entries[0].verdict == "faster"


def test_bad_input():
    rows = _device_rows()
    with pytest.raises(UserError, match="not a run field"):
        comparison.compare(rows, "colour")
    with pytest.raises(UserError, match="--metric"):
        comparison.compare(rows, "device", metric="speed")
    with pytest.raises(UserError, match="no run has device=tpu"):
        comparison.compare(rows, "device", baseline="tpu")


def test_exports_agree():
    comp = comparison.compare(_device_rows(), "device")
    recs = comparison.records(comp)
    parsed = list(csv.DictReader(io.StringIO(comparison.to_csv(comp))))
    assert len(parsed) == len(recs) == 5
    assert float(parsed[1]["vs_baseline"]) == pytest.approx(4.0)
    body = json.loads(comparison.to_json(comp))
    assert body["by"] == "device" and len(body["entries"]) == 5
    assert any("speedup" in n for n in body["notes"])
    md = comparison.to_markdown(comp)
    assert md.count("\n|") >= 6 and "95% interval" in md and NO_CLEAR_DIFFERENCE in md


def test_groups_differing_in_a_field_left_at_its_default_are_told_apart():
    """`keep` is left out of a stored spec at its default: its groups still say keep=last."""
    rows = [fake_run(1, 1.0, val_fraction=0.1), fake_run(2, 1.1, val_fraction=0.1, keep="best-val")]
    titles = sorted(g.title for g in comparison.compare(rows, "device").groups)
    assert len(titles) == 2 and titles[0].endswith("keep=best-val")
    assert titles[1].endswith("keep=last")
