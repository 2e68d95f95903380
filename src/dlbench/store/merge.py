"""`dlbench merge OTHER.sqlite`: another machine's runs brought into this database.

For machines that are not in one cluster (a laptop and a Colab GPU): each runs its suite into
its own file, and one of them merges the others, so one report sets them side by side. The
runs keep their fingerprints (that is what tells the machines apart), their epochs and their
start and finish times; only their row ids are new. A run already here (same run id, same
fingerprint, same start time) is skipped, so merging twice adds nothing. Everything goes in
one transaction: a merge that fails writes nothing. The other file is only read; one that is
not a dlbench database, or was written by a newer schema, is refused before anything is
opened for writing.

Weights: a stored run names its weights by the path they had on its machine. With
`--artifacts DIR` (default: the other database's own `<name>-artifacts` folder, when it is
here), each run's artifacts folder is copied beside this database and the merged run points
at the copy; a run whose folder is not found keeps its old path and is counted as such.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlbench.errors import UserError
from dlbench.store.db import (
    APPLICATION_ID,
    EPOCH_COLUMNS,
    JSON_COLUMNS,
    PROBE_COLUMNS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    Store,
    sqlite_identity,
)


@dataclass
class MergeResult:
    added: int = 0
    skipped: int = 0  # already here
    probes_added: int = 0
    artifacts_copied: int = 0
    weights_missing: int = 0  # runs with weights whose folder was not found
    machines: list[str] = field(default_factory=list)  # machine labels of the added runs


def check_mergeable(other: Path) -> None:
    """Refuse, reading only, a file that is not a dlbench database this dlbench can read."""
    if not other.exists():
        raise UserError(f"merge: no file at {other}; give the path of another dlbench database")
    if other.is_dir():
        raise UserError(f"merge: {other} is a folder; give the path of a dlbench .sqlite file")
    try:
        identity = sqlite_identity(other, immutable=False)
    except sqlite3.DatabaseError as exc:
        raise UserError(
            f"merge: {other} is a damaged SQLite file ({exc}); nothing was merged"
        ) from None
    if identity is None:
        raise UserError(
            f"merge: {other} is not a dlbench database (not even SQLite); nothing was merged"
        )
    if identity.application_id != APPLICATION_ID:
        raise UserError(
            f"merge: {other} is a SQLite database that dlbench did not create; nothing was merged"
        )
    version = identity.user_version
    if version > SCHEMA_VERSION:
        raise UserError(
            f"merge: {other} was written by a newer dlbench (schema {version}, this one reads "
            f"up to {SCHEMA_VERSION}): upgrade dlbench here first; nothing was merged"
        )


def _fp_text(fp: Any) -> str:
    return json.dumps(fp, sort_keys=True, default=str)


def _find_folder(weights_path: str, artifacts: Path | None) -> Path | None:
    """The run's artifacts folder on this machine: under `artifacts` by its folder name."""
    if not artifacts:
        return None
    folder = artifacts / Path(weights_path).parent.name
    return folder if folder.is_dir() else None


def merge(db_path: Path, other: Path, artifacts: Path | None = None) -> MergeResult:
    """Bring the runs (and GEMM probes) of `other` into `db_path`, in one transaction."""
    from dlbench.store.machines import machine_label

    check_mergeable(other)
    if db_path.exists() and other.resolve() == db_path.resolve():
        raise UserError(f"merge: {other} is the database itself (--db); give another file")
    if artifacts is not None and not artifacts.is_dir():
        raise UserError(f"merge --artifacts {artifacts}: no such folder")
    if artifacts is None:
        default = other.resolve().parent / f"{other.stem}-artifacts"
        artifacts = default if default.is_dir() else None
    with Store(other, readonly=True) as src:
        runs = src.runs()
        has_probes = src.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'probes'"
        ).fetchone()
        probes = (
            [dict(r) for r in src.conn.execute("SELECT * FROM probes ORDER BY id")]
            if has_probes
            else []
        )
    out = MergeResult()
    copied: list[Path] = []
    store = Store(db_path)
    root = db_path.resolve().parent / f"{db_path.stem}-artifacts"
    try:
        conn = store.conn
        present = {
            (r["run_id"], _fp_text(json.loads(r["fingerprint_json"] or "null")), r["started_at"])
            for r in conn.execute("SELECT run_id, fingerprint_json, started_at FROM runs")
        }
        have_probes = {
            tuple(r)
            for r in conn.execute("SELECT hostname, cpu, device, dtype, measured_at FROM probes")
        }
        with conn:  # one transaction: all of it or nothing
            for r in runs:
                key = (r["run_id"], _fp_text(r["fingerprint"]), r["started_at"])
                if key in present:
                    out.skipped += 1
                    continue
                present.add(key)
                values = dict(r.values)
                if values.get("weights_path"):
                    folder = _find_folder(values["weights_path"], artifacts)
                    if folder is not None:
                        target = root / folder.name
                        if not target.exists():
                            shutil.copytree(folder, target)
                            copied.append(target)
                            out.artifacts_copied += 1
                        values["weights_path"] = str(target / Path(values["weights_path"]).name)
                    elif not Path(values["weights_path"]).exists():
                        out.weights_missing += 1
                _insert_run(conn, values, r.epochs)
                out.added += 1
                label = machine_label(r["fingerprint"])
                if label not in out.machines:
                    out.machines.append(label)
            for p in probes:
                key = tuple(p.get(c) for c in ("hostname", "cpu", "device", "dtype", "measured_at"))
                if key in have_probes:
                    continue
                have_probes.add(key)
                row = {c: p.get(c) for c in (*PROBE_COLUMNS, "by_size_json", "fingerprint_json")}
                conn.execute(
                    f"INSERT INTO probes ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    list(row.values()),
                )
                out.probes_added += 1
    except BaseException:
        for folder in copied:  # the transaction is rolled back: so are the copies
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        store.close()
    return out


def _insert_run(conn: sqlite3.Connection, values: dict[str, Any], epochs: list[dict]) -> None:
    """One stored run as it was, under a new row id (the caller holds the transaction)."""
    row = {c: values.get(c) for c in RUN_COLUMNS}
    for c in JSON_COLUMNS:
        row[f"{c}_json"] = json.dumps(values.get(c)) if values.get(c) is not None else None
    cur = conn.execute(
        f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        list(row.values()),
    )
    conn.executemany(
        f"INSERT INTO epochs (run, {', '.join(EPOCH_COLUMNS)}) "
        f"VALUES (?, {', '.join('?' * len(EPOCH_COLUMNS))})",
        [[cur.lastrowid, *(e.get(c) for c in EPOCH_COLUMNS)] for e in epochs],
    )
