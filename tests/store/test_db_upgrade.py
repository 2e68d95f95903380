"""A database written by schema 1 opens, reads and grows without a row being rewritten."""

from __future__ import annotations

import json
import sqlite3

from dlbench.store.db import APPLICATION_ID, EPOCH_COLUMNS, RUN_COLUMNS, SCHEMA_VERSION, Store

V1_RUN_COLUMNS = RUN_COLUMNS[: RUN_COLUMNS.index("weights_path") + 1]
V1_EPOCH_COLUMNS = EPOCH_COLUMNS[: EPOCH_COLUMNS.index("val_s") + 1]


def _v1_db(path):
    conn = sqlite3.connect(path)
    conn.executescript(
        f"""
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, {", ".join(V1_RUN_COLUMNS)},
          spec_json TEXT, options_json TEXT, fingerprint_json TEXT, confusion_json TEXT,
          class_names_json TEXT, extra_json TEXT);
        CREATE TABLE epochs (run INTEGER NOT NULL REFERENCES runs(id),
          {", ".join(V1_EPOCH_COLUMNS)}, PRIMARY KEY (run, epoch));
        PRAGMA application_id={APPLICATION_ID};
        PRAGMA user_version=1;
        """
    )
    conn.execute(
        "INSERT INTO runs (run_id, model, status, steady_epoch_s, spec_json, fingerprint_json) "
        "VALUES ('abc', 'a-mlp', 'finished', 1.5, ?, ?)",
        (json.dumps({"model_name": "a-mlp"}), json.dumps({"hostname": "h"})),
    )
    conn.execute("INSERT INTO epochs (run, epoch, epoch_s) VALUES (1, 1, 1.5)")
    conn.commit()
    conn.close()


def test_old_file_reads_read_only(tmp_path):
    path = tmp_path / "v1.sqlite"
    _v1_db(path)
    with Store(path, readonly=True) as store:
        (row,) = store.runs()
        assert row["steady_epoch_s"] == 1.5 and row["tta_s"] is None and row["noisy"] is None
        assert row.epochs[0]["epoch_s"] == 1.5 and "test_acc" not in row.epochs[0]
        assert store.probes() == [] and row["peak_flops_per_s"] is None
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_old_file_grows(tmp_path):
    path = tmp_path / "v1.sqlite"
    _v1_db(path)
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT * FROM runs").fetchone()
    with Store(path) as store:
        store.add_run({"run_id": "def", "status": "finished", "tta_s": 2.0, "noisy": 1}, [])
        store.add_probe({"hostname": "h", "cpu": "c", "device": "cpu", "dtype": "float32",
                         "flops_per_s": 1e9, "threads": 2})  # fmt: skip
        rows = store.runs()
    assert [r["run_id"] for r in rows] == ["abc", "def"]
    assert rows[1]["tta_s"] == 2.0 and rows[1]["noisy"] == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        after = conn.execute("SELECT * FROM runs WHERE id = 1").fetchone()
    assert after[: len(before)] == before  # the old row: same values, new columns NULL
    assert all(v is None for v in after[len(before) :])
