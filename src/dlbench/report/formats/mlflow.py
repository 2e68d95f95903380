"""Runs into an MLflow tracking store: `dlbench export --mlflow URI` (the `dlbench[mlflow]` extra).

One MLflow run per stored dlbench run, in the experiment `dlbench` (or the one named):
- params: the run's spec (every scalar field, the model by name) and its options;
- metrics: each epoch's loss, accuracy and time with `step` = the epoch, then the summary
  (steady epoch s, samples/s, test accuracy and loss, train s, peak memory, ...) at the last step;
- tags: the machine's fingerprint (`fingerprint.cpu`, `fingerprint.libraries.torch`, ...),
  the status and its message, and `dlbench.key`, which makes a second export a no-op;
- artifacts: the resolved spec (`spec.json`) and the trained weights, when the run kept them.

MLflow's telemetry is switched off before it is imported (MLFLOW_DISABLE_TELEMETRY, and
DO_NOT_TRACK, the cross-tool convention); nothing is sent anywhere but the store given.
Newer MLflow refuses its plain file store by default, so a store is a database URI
(`sqlite:///mlflow.db`) or a tracking server (`http://host:5000`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dlbench.errors import UserError
from dlbench.store.db import RunRow

INSTALL = "pip install 'dlbench[mlflow]'"
DEFAULT_EXPERIMENT = "dlbench"
KEY_TAG = "dlbench.key"  # dlbench's run id and start time: one MLflow run per stored run
DONE_TAG = "dlbench.exported"  # set when everything of a run is written
TELEMETRY_OFF = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
EPOCH_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_s", "val_s")
SUMMARY_METRICS = (
    "steady_epoch_s",
    "first_epoch_s",
    "train_s",
    "test_s",
    "load_s",
    "build_s",
    "compile_s",
    "wall_s",
    "samples_per_s",
    "test_acc",
    "test_loss",
    "tta_s",
    "peak_rss_bytes",
    "peak_device_bytes",
    "achieved_flops_per_s",
    "cpu_energy_j",
    "gpu_energy_j",
    "params",
    "macs",
)
MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
MAX_TAG_CHARS = 5000
BATCH = 100  # MLflow takes at most 100 params or tags, 1000 metrics, in one log_batch


@dataclass(frozen=True)
class Exported:
    uri: str
    experiment: str
    created: int  # MLflow runs made now
    present: int  # dlbench runs already in the store (left as they are)


def _client(uri: str):
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    if "://" not in uri or uri.startswith("file:"):
        raise UserError(
            f"--mlflow {uri}: give a database or server URI, e.g. sqlite:///mlflow.db or "
            "http://localhost:5000 (MLflow refuses its plain file store by default)"
        )
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError(f"--mlflow needs MLflow, which is not installed: {INSTALL}") from None
    import logging

    # "Creating initial MLflow database tables..." and alembic's migrations: not ours to say.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def _artifact_root(uri: str) -> str | None:
    """Beside a SQLite store: `<folder>/mlartifacts` (as `mlflow server` does), not in
    whatever folder the export runs from; a server chooses its own."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :]).resolve()
        return (path.parent / "mlartifacts").as_uri()
    return None


def run_key(r: RunRow) -> str:
    """What identifies a stored run across databases and exports: its spec's id (a hash) and
    when it started (the same spec may be run again)."""
    return f"{r['run_id']}@{r['started_at']}"


def _ms(stamp: str | None) -> int | None:
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)


def _flat(prefix: str, value: Any, out: dict[str, str], limit: int) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}", v, out, limit)
        return
    if value is None:
        return
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    out[prefix] = text[:limit]


def params_of(r: RunRow) -> dict[str, str]:
    """The spec's scalar fields (the model by its name; its layers are in spec.json) and the
    run's options, as MLflow params."""
    out: dict[str, str] = {}
    for key, value in sorted(r.spec.items()):
        if key == "model":
            continue
        _flat(key, value, out, MAX_PARAM_CHARS)
    out["model"] = str(r["model"])
    for key, value in sorted((r["options"] or {}).items()):
        _flat(f"option.{key}", value, out, MAX_PARAM_CHARS)
    return out


def tags_of(r: RunRow) -> dict[str, str]:
    out = {
        KEY_TAG: run_key(r),
        "dlbench.run_id": str(r["run_id"]),
        "dlbench.row": str(r.id),
        "dlbench.suite": str(r["suite"] or ""),
        "dlbench.status": str(r["status"]),
        "mlflow.runName": f"{r['model']} / {r['framework']} / {r['device']} (run {r.id})",
    }
    if r["message"]:
        out["dlbench.message"] = str(r["message"])[:MAX_TAG_CHARS]
    _flat("fingerprint", r["fingerprint"] or {}, out, MAX_TAG_CHARS)
    return out


def _metrics(r: RunRow, start_ms: int):
    from mlflow.entities import Metric

    out = []
    for e in r.epochs:
        step = int(e["epoch"])
        for key in EPOCH_METRICS:
            v = e.get(key)
            if isinstance(v, (int, float)):
                out.append(Metric(key, float(v), start_ms + step, step))
    last = max((int(e["epoch"]) for e in r.epochs), default=0)
    for key in SUMMARY_METRICS:
        if key == "test_acc" and r["synthetic"]:
            continue  # random labels: the accuracy means nothing
        v = r[key]
        if isinstance(v, (int, float)):
            out.append(Metric(key, float(v), start_ms + last, last))
    return out


def _chunks(items: list, n: int):
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _artifacts(r: RunRow, db: Path | None) -> list[Path]:
    from dlbench.frameworks.restore import artifacts_dir

    folder = artifacts_dir(r, db)
    files = []
    if folder is not None and folder.is_dir():
        weights = folder / Path(r["weights_path"]).name
        files += [p for p in (folder / "spec.json", weights) if p.is_file()]
    return files


def _experiment_id(client, name: str, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise UserError(
                f"MLflow experiment {name!r} is deleted: restore it, or pass --experiment NAME"
            )
        return found.experiment_id
    return client.create_experiment(name, artifact_location=_artifact_root(uri))


def export(
    rows: list[RunRow], uri: str, db: Path | None = None, experiment: str = DEFAULT_EXPERIMENT
) -> Exported:
    """Write each run into the MLflow store at `uri`; runs exported before are left alone."""
    from mlflow.entities import Param, RunTag

    client = _client(uri)
    try:
        exp = _experiment_id(client, experiment, uri)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - a store MLflow cannot open, said in one line
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise UserError(
            f"--mlflow {uri}: MLflow cannot open this store ({type(exc).__name__}: {first})"
        ) from None
    created = present = 0
    for r in rows:
        key = run_key(r)
        found = client.search_runs([exp], f"tags.`{KEY_TAG}` = '{key}'", max_results=10)
        if any(f.data.tags.get(DONE_TAG) == "true" for f in found):
            present += 1
            continue
        for partial in found:  # an export stopped half-way: made again, whole
            client.delete_run(partial.info.run_id)
        start = _ms(r["started_at"]) or _ms(r["finished_at"]) or 0
        tags = tags_of(r)
        run = client.create_run(exp, start_time=start, tags={KEY_TAG: key})
        rid = run.info.run_id
        for part in _chunks([Param(k, v) for k, v in params_of(r).items()], BATCH):
            client.log_batch(rid, params=part)
        for part in _chunks([RunTag(k, v) for k, v in tags.items()], BATCH):
            client.log_batch(rid, tags=part)
        for part in _chunks(_metrics(r, start), 1000):
            client.log_batch(rid, metrics=part)
        if r.spec:
            with tempfile.TemporaryDirectory() as tmp:
                spec = Path(tmp) / "spec.json"
                spec.write_text(json.dumps(r.spec, indent=2, sort_keys=True) + "\n")
                client.log_artifact(rid, str(spec))
        for path in _artifacts(r, db):
            if path.name != "spec.json":
                client.log_artifact(rid, str(path), artifact_path="weights")
        status = "FINISHED" if r["status"] == "finished" else "FAILED"
        client.set_terminated(rid, status, end_time=_ms(r["finished_at"]))
        client.set_tag(rid, DONE_TAG, "true")  # last: a run without it was cut short
        created += 1
    return Exported(uri, experiment, created, present)
