"""A run's result: one typed record from the run's own process to the database.

The worker (runner/worker.py) fills what the run measured and sends the record to the parent
as JSON (`to_json`, `from_json`); the runner (runner/execute.py) adds what the plan and the
machine know (the spec's fields, parameter counts, the fingerprint, the noise guard); the
store (store/db.py) writes it, one column per field marked `column`, in the order declared
here: `RUN_COLUMNS` is derived from this class, so the record and the schema cannot drift.

Each field says where it goes (its `metadata["store"]`):
- `column`: a scalar column of `runs`, named as the field unless `metadata["name"]` says;
- `json`: a `<name>_json` column;
- `extra`: a key of the `extra_json` column (left out while None);
- `carried`: read by the runner, not stored as such (the epochs go to the `epochs` table,
  the versions and the device into the fingerprint).

Add a field at the end of its group; a new column must be appended to the schema too (a
newer SCHEMA_VERSION in store/db.py), never inserted, so that older databases upgrade.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

COLUMN, JSON, EXTRA, CARRIED = "column", "json", "extra", "carried"


def _column(default: Any = None, name: str | None = None) -> Any:
    return field(default=default, metadata={"store": COLUMN, "name": name})


def _json(factory: Any = None) -> Any:
    if factory is None:
        return field(default=None, metadata={"store": JSON})
    return field(default_factory=factory, metadata={"store": JSON})


def _extra() -> Any:
    return field(default=None, metadata={"store": EXTRA})


def _carried(factory: Any = None) -> Any:
    if factory is None:
        return field(default=None, metadata={"store": CARRIED})
    return field(default_factory=factory, metadata={"store": CARRIED})


@dataclass
class RunRecord:
    """One run: what it was, what it measured, how it ended. Units are in the names."""

    # -- the run, as planned (the runner, from the spec and the plan) --------------------------
    run_id: str | None = _column()
    suite: str | None = _column()
    model: str | None = _column()  # the model's name
    dataset: str | None = _column()
    framework: str | None = _column()
    device: str | None = _column()
    tuning: str | None = _column()
    # -- how it ended ----------------------------------------------------------------------------
    status: str = _column("failed")  # finished, diverged, failed, oom, timeout
    message: str | None = _column()  # why it failed or diverged, and the fix
    started_at: str | None = _column()  # ISO 8601, UTC
    finished_at: str | None = _column()  # set by the store when it writes the run
    # -- the model and the settings --------------------------------------------------------------
    params: int | None = _column()
    params_excl_bn: int | None = _column()
    macs: int | None = _column()  # multiply-adds per sample, forward
    planned_epochs: int | None = _column(name="epochs")  # the spec's; `epochs` holds the records
    epochs_done: int | None = _column()
    batch_size: int | None = _column()
    optimizer: str | None = _column()
    lr: float | None = _column()
    seed: int | None = _column()  # the effective seed: the spec's seed + repeat
    repeat: int | None = _column()
    # -- the data (the worker) -------------------------------------------------------------------
    train_samples: int | None = _column()
    val_samples: int | None = _column()
    test_samples: int | None = _column()
    synthetic: int | None = _column()  # 1: random labels, timing only
    # -- times (seconds) -------------------------------------------------------------------------
    import_s: float | None = _column()
    load_s: float | None = _column()
    build_s: float | None = _column()
    compile_s: float | None = _column()
    first_epoch_s: float | None = _column()
    steady_epoch_s: float | None = _column()  # median of epochs 2..n
    train_s: float | None = _column()  # sum of epoch_s
    test_s: float | None = _column()
    wall_s: float | None = _column()  # the worker's whole life
    samples_per_s: float | None = _column()
    # -- results -----------------------------------------------------------------------------
    test_loss: float | None = _column()
    test_acc: float | None = _column()
    peak_rss_bytes: int | None = _column()
    peak_device_bytes: int | None = _column()
    weights_path: str | None = _column()
    # -- schema 2 ----------------------------------------------------------------------------
    train_flops_per_epoch: float | None = _column()  # forward + backward (measure/work.py)
    achieved_flops_per_s: float | None = _column()  # train_flops_per_epoch / steady_epoch_s
    load_before_pct: float | None = _column()  # other processes' CPU use before, % of a core
    load_during_pct: float | None = _column()  # ... and during the timed work
    noisy: int | None = _column()  # 1 when either is above measure.noise.NOISY_PCT
    target_acc: float | None = _column()
    target_on: str | None = _column()  # val or test
    tta_epoch: int | None = _column()  # first epoch reaching target_acc; None: not reached
    tta_s: float | None = _column()  # training seconds until then
    cpu_energy_j: float | None = _column()  # RAPL, around the training loop; None: unreadable
    gpu_energy_j: float | None = _column()  # NVML, around the training loop
    energy_source: str | None = _column()
    # -- JSON columns --------------------------------------------------------------------------
    spec: dict[str, Any] | None = _json()  # the resolved run spec
    options: dict[str, Any] | None = _json()  # what the trainer did that changes speed
    fingerprint: dict[str, Any] | None = _json()  # the machine, versions, device, threads
    confusion: list[list[int]] | None = _json()
    class_names: list[str] | None = _json()
    # -- in `extra_json` ---------------------------------------------------------------------
    data_source: str | None = _extra()  # the file the data was read from, or "generated"
    input_shape: list[int] | None = _extra()  # (C, H, W)
    norm_stats: dict[str, Any] | None = _extra()  # standardize: the training set's mean, std
    kept_epoch: int | None = _extra()  # keep: best-val: the epoch tested and saved
    ray: dict[str, Any] | None = _extra()  # --executor ray: the node and the task's timings
    weights_sha256: str | None = _extra()  # --executor ray: checked on both sides
    prediction: dict[str, Any] | None = _extra()  # made before the run: runner/estimate.py
    # forked from a warm process (runner/warm.py): its import, paid once, by the first of its
    # runs; None: the run's process started fresh and import_s holds its import
    warm_import_s: float | None = _extra()
    # -- carried from the worker to the runner -------------------------------------------------
    epochs: list[dict[str, Any]] = _carried(list)  # per-epoch records: the `epochs` table
    versions: dict[str, str] | None = _carried()  # framework and library versions
    device_info: dict[str, Any] | None = _carried()  # the device as the adapter sees it

    # -- as a mapping: the worker's tests and the CLI's progress read records by key ---------
    def __getitem__(self, name: str) -> Any:
        if name not in _FIELDS:
            raise KeyError(name)
        return getattr(self, name)

    def __contains__(self, name: object) -> bool:
        return name in _FIELDS

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name) if name in _FIELDS else default

    def update(self, **values: Any) -> None:
        """Set fields by name; a name that is no field is a bug, said at once."""
        for name, value in values.items():
            if name not in _FIELDS:
                raise TypeError(f"RunRecord has no field {name!r}: add it to store/record.py")
            setattr(self, name, value)

    # -- across the process boundary -----------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        record = cls()
        record.update(**data)
        return record

    # -- into the store --------------------------------------------------------------------------
    def columns(self) -> dict[str, Any]:
        """{column name: value} for every scalar and JSON column of `runs` (JSON columns by
        their short name, `extra` included): what Store.add_run writes."""
        out: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            kind = f.metadata["store"]
            value = getattr(self, f.name)
            if kind in (COLUMN, JSON):
                out[f.metadata.get("name") or f.name] = value
            elif kind == EXTRA and value is not None:
                extra[f.name] = value
        out["extra"] = extra or None
        return out


_FIELDS = frozenset(f.name for f in dataclasses.fields(RunRecord))


def _names(kind: str) -> tuple[str, ...]:
    return tuple(
        f.metadata.get("name") or f.name
        for f in dataclasses.fields(RunRecord)
        if f.metadata["store"] == kind
    )


RUN_COLUMNS = _names(COLUMN)  # scalar columns of `runs`, in order
JSON_COLUMNS = (*_names(JSON), "extra")  # `<name>_json` columns, in order
