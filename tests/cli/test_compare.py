"""`dlbench compare`, `crossover`, `show` and `probe` as a user meets them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import needs_torch
from tests.report.test_stats import fake_run


def _db(path, rows):
    from dlbench.store.db import Store

    with Store(path) as store:
        for r in rows:
            store.add_run(r.values, [{"epoch": 1, "epoch_s": r["first_epoch_s"]}])
    return path


@pytest.fixture
def device_db(tmp_path):
    rows = []
    for i, (dev, t) in enumerate(
        [
            ("cpu", 4.0),
            ("cpu", 4.2),
            ("cpu", 3.9),
            ("cuda:0", 1.0),
            ("cuda:0", 1.1),
            ("cuda:0", 0.9),
        ]
    ):
        rows.append(fake_run(i + 1, t, device=dev, repeat=i % 3))
    return _db(tmp_path / "d.sqlite", rows)


def test_compare_formats(cli, device_db):
    out = cli("compare", "--by", "device", "--db", str(device_db))
    assert out.returncode == 0, out.stderr
    assert "95% interval" in out.stdout and "cpu (baseline)" in out.stdout
    assert "4.00x" in out.stdout  # median T_cpu / median T_gpu = 4.0 / 1.0
    rows = list(
        csv.DictReader(
            io.StringIO(cli("compare", "--db", str(device_db), "--format", "csv").stdout)
        )
    )
    assert [r["device"] for r in rows] == ["cpu", "cuda:0"]
    assert float(rows[1]["vs_baseline"]) == pytest.approx(4.0) and rows[1]["verdict"] == "faster"
    body = json.loads(cli("compare", "--db", str(device_db), "--format", "json").stdout)
    assert body["entries"][0]["ci95_lo"] is not None
    md = cli("compare", "--db", str(device_db), "--format", "md", "--centre", "trimmed-mean").stdout
    assert md.startswith("| group | device |") and "trimmed mean" in md


def test_compare_runs_filter_and_errors(cli, device_db):
    out = cli("compare", "--db", str(device_db), "--runs", "1-3", "--format", "csv")
    assert out.returncode == 0 and out.stdout.count("\n") == 2  # header + the CPU entry
    bad = cli("compare", "--by", "colour", "--db", str(device_db))
    assert bad.returncode == 2 and "not a run field" in bad.stderr
    none = cli("compare", "--db", str(device_db), "--runs", "model=nothing")
    assert none.returncode == 2 and "matches no stored run" in none.stderr


def test_crossover_table_and_chart(cli, tmp_path):
    rows = []
    i = 0
    # CPU time grows with width faster than GPU time: the GPU wins from the middle on.
    for width, cpu_t, gpu_t in (
        (16, 0.1, 0.4),
        (256, 0.5, 0.6),
        (1024, 2.0, 0.8),
        (4096, 9.0, 1.2),
    ):
        for dev, t in (("cpu", cpu_t), ("cuda:0", gpu_t)):
            i += 1
            model = {"builder": "mlp", "widths": [width], "name": f"mlp-{width}"}
            r = fake_run(i, t, device=dev, model=model)
            r.values["macs"] = 784 * width + width * 10
            r.values["suite"] = "crossover"
            rows.append(r)
    db = _db(tmp_path / "x.sqlite", rows)
    out = cli("crossover", "--db", str(db), "--chart", str(tmp_path / "chart"))
    assert out.returncode == 0, out.stderr
    assert "cuda:0 s/epoch" in out.stdout and "the GPU beats the CPU from about" in out.stdout
    assert (tmp_path / "chart.png").stat().st_size > 1000
    assert (tmp_path / "chart.svg").read_text().lstrip().startswith("<?xml")


def test_crossover_without_gpu(tmp_path):
    from dlbench.report.crossover import crossovers, points

    rows = [fake_run(1, 1.0), fake_run(2, 2.0, batch_size=64)]
    (c,) = crossovers(points(rows))
    assert c.macs_per_step is None and "no GPU" in c.text


def test_crossover_interpolation():
    from dlbench.report.crossover import _crossing

    x, text = _crossing([(100, 0.5), (10_000, 2.0)])
    assert x == pytest.approx(1000)  # log-log halfway between 0.5x and 2x
    assert _crossing([(100, 0.5), (1000, 0.8)])[0] is None
    assert "every size" in _crossing([(100, 1.5)])[1]


def test_show(cli, device_db):
    out = cli("show", "2", "--db", str(device_db))
    assert out.returncode == 0, out.stderr
    for word in ("measurements", "steady_epoch_s", "spec", "fingerprint", "epochs", "layers"):
        assert word in out.stdout
    from dlbench.store.db import Store

    with Store(device_db, readonly=True) as store:
        run_id = store.runs()[0]["run_id"]
    as_json = json.loads(cli("show", run_id[:6], "--db", str(device_db), "--format", "json").stdout)
    assert as_json["run_id"] == run_id
    missing = cli("show", "999", "--db", str(device_db))
    assert missing.returncode == 2 and "no run" in missing.stderr


@needs_torch
@pytest.mark.slow
def test_probe_and_time_to_target_end_to_end(cli, tmp_path):
    db = str(tmp_path / "e.sqlite")
    bad = cli("probe", "--device", "cpu", "--library", "numpy", "--db", db)
    assert bad.returncode == 2 and "--library numpy: unknown; choose from torch" in bad.stderr
    assert not Path(db).exists()  # refused before anything was timed or stored
    # torch's GEMM alone: every library's probe is tests/measure/test_probe.py's
    probe = cli("probe", "--device", "cpu", "--threads", "1", "--library", "torch", "--db", db)
    assert probe.returncode == 0, probe.stderr
    assert "float32" in probe.stdout and "GFLOP/s" in probe.stdout
    common = [
        *("--dataset", "digits", "--framework", "torch", "--device", "cpu", "--no-save"),
        *("--threads", "1"),  # as the probe: % of peak compares the same thread count
    ]
    run = cli(
        "run", "--model", "a-mlp", *common, "--epochs", "2", "--target-acc", "0.99",
        "--target-on", "test", "--db", db,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr + run.stdout
    assert "time to target" in run.stdout and "not reached in 2 epochs" in run.stdout
    csv_out = cli("results", "--db", db, "--format", "csv").stdout
    (row,) = csv.DictReader(io.StringIO(csv_out))
    assert float(row["of_peak"]) > 0 and float(row["achieved_gflops_per_s"]) > 0
    bad = cli("run", "--model", "a-mlp", *common, "--target-acc", "0.9", "--db", db)
    assert bad.returncode == 2 and "--val-fraction" in bad.stderr


def test_show_says_how_threads_were_chosen(cli, tmp_path):
    swept, forced, older = (fake_run(i, 1.0, seed=i) for i in (1, 2, 3))
    swept.values["options"] = {
        "threads": 1,
        "threads_chosen_by": "sweep",
        "thread_sweep": {"2": 0.00055, "1": 0.00041},
        "sweep_s": 0.9,
    }
    forced.values["options"] = {"threads": 2, "threads_chosen_by": "forced (--threads 2)"}
    older.values["options"] = {"threads": 2}  # stored before threads were chosen
    db = str(_db(tmp_path / "t.sqlite", [swept, forced, older]))
    lines = [cli("show", str(i), "--db", db).stdout.splitlines() for i in (1, 2, 3)]
    said = [[ln for ln in out if ln.startswith("threads: ")] for out in lines]
    assert said[0] == ["threads: 1 (swept in warm-up: 1 → 0.41 ms/step, 2 → 0.55 ms/step)"]
    assert said[1] == ["threads: 2 (forced (--threads 2))"]
    assert said[2] == []
