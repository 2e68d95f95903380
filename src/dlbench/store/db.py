"""The results database: SQLite, WAL, one transaction per finished run, appended, never edited.

A run is a row in `runs` (its resolved spec, status, times, metrics, fingerprint, confusion
matrix) with its per-epoch rows in `epochs`; `probes` holds each machine's measured peak
FLOP/s. The file is marked with SQLite's application_id, so dlbench recognises its own
databases and never writes into a file it did not create.

The schema only grows: a newer dlbench adds its columns to an older file when it opens it for
writing (`ALTER TABLE ... ADD COLUMN`, old rows read NULL there) and bumps `user_version`;
stored rows are never rewritten. Reading an older file read-only works: missing columns read
as None.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlbench.errors import UserError
from dlbench.store.record import JSON_COLUMNS, RUN_COLUMNS, RunRecord  # noqa: F401 - re-exported

APPLICATION_ID = 0x646C6263  # "dlbc"
SCHEMA_VERSION = 3  # 2: work, noise, time-to-accuracy, energy columns; per-epoch test; probes
# 3: probes of every kind (the estimate's), with their boot id; runs' extra.prediction
SQLITE_MAGIC = b"SQLite format 3\x00"
DEFAULT_DB = Path("dlbench.sqlite")

# The columns of `runs` (RUN_COLUMNS, then JSON_COLUMNS as `<name>_json`) are derived from the
# result record, store/record.py.
# extra holds, from schema 3, `prediction`: the run's predicted times made before it started,
# their parts and the probes they used (runner/estimate.py `prediction_record`)
EPOCH_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "epoch_s",
    "val_s",
    # schema 2: the test set after each epoch (--target-on test), outside the timed region
    "test_loss",
    "test_acc",
    "test_s",
)
PROBE_COLUMNS = (
    "hostname",
    "cpu",
    "device",  # cpu, cuda:0, ...
    "device_name",
    "dtype",  # float32, tf32, bfloat16
    "flops_per_s",
    "size",  # the matrix size that gave the best figure
    "threads",
    "library",
    "measured_at",
    "other_load_pct",  # other processes' CPU use during the probe, % of one core
    # schema 3: the estimate's probes (runner/calibrate.py); NULL kind is the GEMM peak
    "kind",  # gemm, gemm-shapes, bandwidth, calibration, load
    "boot_id",  # /proc/sys/kernel/random/boot_id when measured: another boot, another machine
    "framework",  # calibration: the framework and tuning it timed
    "tuning",
    "bytes_per_s",  # bandwidth and load: the best figure
)
PROBE_JSON_COLUMNS = ("by_size", "fingerprint", "detail")  # detail: schema 3
DONE_STATUSES = ("finished", "diverged")  # results --resume keeps; others are tried again

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  {", ".join(f"{c}" for c in RUN_COLUMNS)},
  {", ".join(f"{c}_json TEXT" for c in JSON_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS runs_run_id ON runs(run_id);
CREATE TABLE IF NOT EXISTS epochs (
  run INTEGER NOT NULL REFERENCES runs(id),
  {", ".join(f"{c}" for c in EPOCH_COLUMNS)},
  PRIMARY KEY (run, epoch)
);
CREATE TABLE IF NOT EXISTS probes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  {", ".join(PROBE_COLUMNS)},
  {", ".join(f"{c}_json TEXT" for c in PROBE_JSON_COLUMNS)}
);
"""


@dataclass
class RunRow:
    """A stored run as the report layer sees it."""

    id: int
    values: dict[str, Any]
    epochs: list[dict[str, Any]]

    def __getitem__(self, key: str) -> Any:
        return self.values.get(key)

    @property
    def spec(self) -> dict[str, Any]:
        return self.values.get("spec") or {}


def device_key(device: str | None) -> str:
    """`cuda` is `cuda:0`: the same device under two names."""
    return "cuda:0" if device == "cuda" else str(device)


def check_db_path(path: Path, must_exist: bool = False) -> None:
    """Refuse, without touching it, a path that is not a dlbench database or cannot become one."""
    if path.is_dir():
        raise UserError(f"--db {path} is a directory; give a file path such as {path / DEFAULT_DB}")
    if not path.exists():
        if must_exist:
            raise UserError(f"no database at {path}: run `dlbench run` first, or pass --db")
        if not path.parent.exists():
            raise UserError(f"--db {path}: folder {path.parent} does not exist; create it first")
        return
    if path.stat().st_size == 0:
        return
    try:
        identity = sqlite_identity(path)
    except sqlite3.DatabaseError as exc:
        raise UserError(
            f"--db {path} is a damaged SQLite file ({exc}); choose another path"
        ) from None
    if identity is None:
        raise UserError(
            f"--db {path} is not a SQLite file; choose another path "
            "(dlbench never overwrites a file it did not create)"
        )
    if identity.application_id != APPLICATION_ID and identity.tables:
        raise UserError(
            f"--db {path} is a SQLite database that dlbench did not create; choose another path"
        )


@dataclass(frozen=True)
class SqliteIdentity:
    application_id: int
    user_version: int  # the schema version dlbench wrote
    tables: int


def sqlite_identity(path: Path, immutable: bool = True) -> SqliteIdentity | None:
    """What a file says it is, read only: None when it is not SQLite at all;
    sqlite3.DatabaseError when it is a damaged one. `immutable` reads the main file alone and
    creates nothing beside it (no -wal, no -shm); a database another process may have open
    is read with immutable=False, which sees its write-ahead log too."""
    with path.open("rb") as f:
        if f.read(16) != SQLITE_MAGIC:
            return None
    flags = "mode=ro&immutable=1" if immutable else "mode=ro"
    conn = sqlite3.connect(f"file:{path}?{flags}", uri=True)
    try:
        return SqliteIdentity(
            conn.execute("PRAGMA application_id").fetchone()[0],
            conn.execute("PRAGMA user_version").fetchone()[0],
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0],
        )
    finally:
        conn.close()


class Store:
    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = Path(path)
        check_db_path(self.path, must_exist=readonly)
        if readonly:
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        else:
            self.conn = sqlite3.connect(self.path)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            if self.conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                with self.conn:
                    self.conn.executescript(_SCHEMA)
                    self.conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                    self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            else:
                self._upgrade()
        self.conn.row_factory = sqlite3.Row
        self._columns = {t: self._table_columns(t) for t in ("runs", "epochs", "probes")}

    def _table_columns(self, table: str) -> set[str]:
        return {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}

    def _upgrade(self) -> None:
        """Add what a newer schema has and this file lacks; rows stay as they are."""
        if self.conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        with self.conn:
            self.conn.executescript(_SCHEMA)  # new tables first (IF NOT EXISTS), then columns
            for table, columns in (
                ("runs", RUN_COLUMNS),
                ("epochs", EPOCH_COLUMNS),
                ("probes", PROBE_COLUMNS + tuple(f"{c}_json" for c in PROBE_JSON_COLUMNS)),
            ):
                have = self._table_columns(table)
                for c in columns:
                    if c not in have:
                        self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {c}")
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def done_run_ids(self) -> set[str]:
        marks = ",".join("?" * len(DONE_STATUSES))
        rows = self.conn.execute(
            f"SELECT DISTINCT run_id FROM runs WHERE status IN ({marks})", DONE_STATUSES
        )
        return {r[0] for r in rows}

    def add_run(
        self, run: RunRecord | Mapping[str, Any], epochs: list[dict[str, Any]] | None = None
    ) -> int:
        """Write one run and its epochs (a record's own, unless given) in one transaction;
        returns its row id. A mapping is read by column name (RunRecord.columns's form)."""
        if isinstance(run, RunRecord):
            values = run.columns()
            epochs = run.epochs if epochs is None else epochs
        else:
            values = run
        epochs = epochs or []
        row = {c: values.get(c) for c in RUN_COLUMNS}
        for c in JSON_COLUMNS:
            row[f"{c}_json"] = json.dumps(values.get(c)) if values.get(c) is not None else None
        row.setdefault("finished_at", None)
        row["finished_at"] = row["finished_at"] or datetime.now(timezone.utc).isoformat(
            timespec="seconds"
        )
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        with self.conn:
            cur = self.conn.execute(
                f"INSERT INTO runs ({cols}) VALUES ({marks})", list(row.values())
            )
            run = cur.lastrowid
            self.conn.executemany(
                f"INSERT INTO epochs (run, {', '.join(EPOCH_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' * len(EPOCH_COLUMNS))})",
                [[run, *(e.get(c) for c in EPOCH_COLUMNS)] for e in epochs],
            )
        return int(run)

    def runs(self, where: str = "", params: tuple = ()) -> list[RunRow]:
        """Stored runs in the order they finished, each with its epochs."""
        sql = "SELECT * FROM runs" + (f" WHERE {where}" if where else "") + " ORDER BY id"
        epoch_cols = [c for c in EPOCH_COLUMNS if c in self._columns["epochs"]]
        out = []
        for r in self.conn.execute(sql, params).fetchall():
            values = {k: r[k] for k in r.keys() if not k.endswith("_json")}  # noqa: SIM118
            for c in JSON_COLUMNS:
                raw = r[f"{c}_json"]
                values[c] = json.loads(raw) if raw else None
            for c in RUN_COLUMNS:
                values.setdefault(c, None)  # an older file: the column is missing
            eps = self.conn.execute(
                f"SELECT {', '.join(epoch_cols)} FROM epochs WHERE run = ? ORDER BY epoch",
                (r["id"],),
            ).fetchall()
            out.append(RunRow(int(r["id"]), values, [dict(e) for e in eps]))
        self._attach_peaks(out)
        return out

    # -- probes ---------------------------------------------------------------------------
    def add_probe(self, values: dict[str, Any]) -> int:
        row = {c: values.get(c) for c in PROBE_COLUMNS}
        for c in PROBE_JSON_COLUMNS:
            row[f"{c}_json"] = json.dumps(values.get(c))
        with self.conn:
            cur = self.conn.execute(
                f"INSERT INTO probes ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
        return int(cur.lastrowid)

    def probes(self) -> list[dict[str, Any]]:
        """Every probe, oldest first (none in a file older than schema 2)."""
        if not self._columns["probes"]:
            return []
        rows = self.conn.execute("SELECT * FROM probes ORDER BY id").fetchall()
        out = []
        for r in rows:
            d = {k: r[k] for k in r.keys() if not k.endswith("_json")}  # noqa: SIM118
            for c in PROBE_JSON_COLUMNS:
                raw = r[f"{c}_json"] if f"{c}_json" in r.keys() else None  # noqa: SIM118
                d[c] = json.loads(raw) if raw else None
            d.pop("fingerprint", None)  # as before: the probe's fingerprint is not read back
            for c in PROBE_COLUMNS:
                d.setdefault(c, None)  # an older file
            out.append(d)
        return out

    def _attach_peaks(self, rows: list[RunRow]) -> None:
        """Each run's `peak_flops_per_s` (not stored: derived): the latest probe of the dtype
        the run computed in (float32, tf32, bfloat16, float16: spec/precision.py) on the same
        machine and device, with the same thread count when there is one."""
        from dlbench.spec.precision import compute_dtype

        probes = [p for p in self.probes() if not p["kind"]]  # GEMM peaks, not the estimate's
        for row in rows:
            fp = row["fingerprint"] or {}
            spec = row.spec
            dtype = compute_dtype(
                spec.get("precision", "float32"), spec.get("tf32", "off"), str(row["device"])
            )
            same = [
                p
                for p in probes
                if p["dtype"] == dtype
                and p["hostname"] == fp.get("hostname")
                and p["cpu"] == fp.get("cpu")
                and device_key(p["device"]) == device_key(row["device"])
            ]
            threads = fp.get("threads")
            best = [p for p in same if p["threads"] == threads] or same
            probe = best[-1] if best else None
            row.values["peak_flops_per_s"] = probe["flops_per_s"] if probe else None
            row.values["probe_id"] = probe["id"] if probe else None
