"""Schema 3: probes of every kind with their boot id; a schema-2 file grows to hold them."""

from __future__ import annotations

import sqlite3

from dlbench.store.db import SCHEMA_VERSION, Store
from tests.runner.estimate_helpers import probe_records


def test_schema_2_file_grows_probe_columns(tmp_path):
    path = tmp_path / "v2.sqlite"
    with Store(path) as store:
        store.add_probe({"hostname": "h", "cpu": "c", "device": "cpu", "dtype": "float32",
                         "flops_per_s": 4e11, "threads": 2})  # fmt: skip
    with sqlite3.connect(path) as conn:  # make it a schema-2 file: drop what 3 added
        for col in ("kind", "boot_id", "framework", "tuning", "bytes_per_s", "detail_json"):
            conn.execute(f"ALTER TABLE probes DROP COLUMN {col}")
        conn.execute("PRAGMA user_version=2")
    with Store(path, readonly=True) as store:
        (old,) = store.probes()
        assert old["kind"] is None and old["detail"] is None and old["flops_per_s"] == 4e11
    with Store(path) as store:
        for r in probe_records():
            store.add_probe(r)
        probes = store.probes()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert probes[0]["kind"] is None and probes[0]["flops_per_s"] == 4e11  # not rewritten
    kinds = [p["kind"] for p in probes[1:]]
    assert kinds == ["gemm-shapes", "bandwidth", "calibration", "calibration", "load"]
    cal = probes[3]
    assert cal["framework"] == "torch" and cal["detail"]["op_s"] == 5e-5 and cal["boot_id"]


def test_new_probes_are_not_peaks(tmp_path):
    """A run's "% of peak" reads the GEMM peak probe, never a probe of the estimate's."""
    with Store(tmp_path / "db.sqlite") as store:
        for r in probe_records():
            store.add_probe({**r, "flops_per_s": 1.0})
        store.add_run({"run_id": "a", "status": "finished", "device": "cpu",
                       "fingerprint": {"hostname": r["hostname"], "cpu": r["cpu"]}}, [])  # fmt: skip
        (row,) = store.runs()
    assert row["peak_flops_per_s"] is None
