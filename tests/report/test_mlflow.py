"""`dlbench export --mlflow`: into a real local MLflow store (`sqlite:///`), read back with
MlflowClient: params, metric histories with their steps, tags, artifacts; a second export adds
nothing. The runs are the report tests' fixed rows; one of them keeps a weights file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.report.helpers import _row, _spec, invoke

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
pytest.importorskip("sqlalchemy", reason="MLflow's SQL store needs sqlalchemy (mlflow extra)")


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    from dlbench.store.db import Store

    root = tmp_path_factory.mktemp("mlflow-db")
    folder = root / "r-artifacts" / "abc-1234"
    folder.mkdir(parents=True)
    weights = folder / "model.weights.pt"
    weights.write_bytes(bytes(range(256)) * 64)
    base = {"model": "a-mlp", "dataset": "fashion-mnist", "epochs": 3, "val_fraction": 0.1}
    rows = [
        _row(_spec(**base, framework="torch"), epoch_s=2.0, weights_path=str(weights)),
        _row(_spec(**base, framework="keras-jax"), epoch_s=1.5),
        _row(_spec(**base, framework="keras-tf"), status="failed", message="RuntimeError: x"),
    ]
    path = root / "r.sqlite"
    with Store(path) as store:
        for values, epochs in rows:
            store.add_run(values, epochs)
    return path


def _runs(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("dlbench")
    runs = client.search_runs([exp.experiment_id], order_by=["tags.`dlbench.row` ASC"])
    return client, exp, runs


def test_export_round_trips_and_is_idempotent(db, tmp_path):
    from dlbench.store.db import Store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, out, err = invoke("export", "--db", db, "--mlflow", uri)
    assert code == 0, err
    assert "3 run(s) exported, 0 already there" in out
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert os.environ["DO_NOT_TRACK"] == "true"

    with Store(db, readonly=True) as store:
        stored = {r.id: r for r in store.runs()}
    client, exp, runs = _runs(uri)
    assert exp.artifact_location == (tmp_path / "mlartifacts").as_uri()
    assert len(runs) == 3
    by_row = {int(r.data.tags["dlbench.row"]): r for r in runs}
    assert set(by_row) == set(stored)

    torch_run = by_row[1]
    row = stored[1]
    p = torch_run.data.params
    assert p["framework"] == "torch" and p["model"] == "a-mlp" and p["epochs"] == "3"
    assert p["lr"] == "0.001" and p["val_fraction"] == "0.1" and p["option.threads"] == "8"
    tags = torch_run.data.tags
    assert tags["dlbench.run_id"] == row["run_id"]
    assert tags["dlbench.key"] == f"{row['run_id']}@{row['started_at']}"
    assert tags["fingerprint.cpu"] == "Test CPU 3000"
    assert tags["fingerprint.libraries.torch"] == "2.13.0"
    assert torch_run.info.status == "FINISHED" and by_row[3].info.status == "FAILED"
    assert by_row[3].data.tags["dlbench.message"] == "RuntimeError: x"

    # Metric histories: one point per epoch, step = the epoch, values as stored.
    for key in ("train_loss", "train_acc", "val_acc", "epoch_s"):
        history = client.get_metric_history(torch_run.info.run_id, key)
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == [1, 2, 3]
        got = {m.step: m.value for m in history}
        assert got == {e["epoch"]: pytest.approx(e[key]) for e in row.epochs}
    m = torch_run.data.metrics
    assert m["steady_epoch_s"] == pytest.approx(2.0) and m["test_acc"] == pytest.approx(0.85)
    assert m["samples_per_s"] == pytest.approx(row["samples_per_s"])

    # Artifacts: the spec everywhere, the weights where the run kept them, byte for byte.
    names = {a.path for a in client.list_artifacts(torch_run.info.run_id)}
    assert names == {"spec.json", "weights"}
    local = Path(client.download_artifacts(torch_run.info.run_id, "", str(tmp_path / "dl")))
    assert json.loads((local / "spec.json").read_text()) == row.spec
    copied = local / "weights" / "model.weights.pt"
    original = Path(row["weights_path"])
    assert (
        hashlib.sha256(copied.read_bytes()).digest()
        == hashlib.sha256(original.read_bytes()).digest()
    )
    assert {a.path for a in client.list_artifacts(by_row[2].info.run_id)} == {"spec.json"}

    # Again: nothing new.
    code, out, err = invoke("export", "--db", db, "--mlflow", uri)
    assert code == 0, err
    assert "0 run(s) exported, 3 already there" in out
    assert len(_runs(uri)[2]) == 3


def test_half_exported_run_is_made_again(db, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert invoke("export", "--db", db, "--mlflow", uri, "--runs", "1")[0] == 0
    client, _, (first,) = _runs(uri)
    client.delete_tag(first.info.run_id, "dlbench.exported")  # as if cut short
    code, out, err = invoke("export", "--db", db, "--mlflow", uri)
    assert code == 0, err
    assert "3 run(s) exported, 0 already there" in out
    runs = _runs(uri)[2]
    assert len(runs) == 3 and first.info.run_id not in {r.info.run_id for r in runs}


def test_bad_store_is_one_line(db, tmp_path):
    code, _, err = invoke("export", "--db", db, "--mlflow", str(tmp_path / "mlruns"))
    assert code == 2 and "sqlite:///mlflow.db" in err and len(err.strip().splitlines()) == 1
