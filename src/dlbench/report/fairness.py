"""Fairness warnings: runs set side by side that differ in more than what is being compared.

The reports behind dlbench compared "Keras" with "PyTorch" on runs that differed in optimizer,
learning rate, normalisation and initialisation, and drew conclusions about the frameworks.
Wherever runs are put side by side, `fairness_warnings` names every training setting that
differs between them other than the compared dimension, one line per setting, with the runs
that hold each value.

Which runs are side by side: runs of the same model (its resolved layers) on the same dataset
are compared across the compared dimension (`framework`, `device`, ...; with none given, the
framework and device together). A setting differs when the runs of one compared value do not
have the same set of values of it as the runs of another (so a learning-rate sweep run in every
framework is fair, and torch at 0.001 beside Keras at 0.01 is not). Runs of one compared value
only are compared with each other (a table of one framework mixing two learning rates).
Across models and datasets: two compared values that share no model and dataset at all (torch
on one model, Keras on another) are named too; a model run in one framework besides models run
in all is not a warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

from dlbench.report.stats import spec_field
from dlbench.store.db import RunRow

SUBJECT_FIELDS = ("model", "dataset")  # what is trained on what
SETTING_FIELDS = (
    "optimizer",
    "lr",
    "momentum",
    "batch_size",
    "init",
    "epochs",
    "normalize",
    "threads",
    "precision",
    "tuning",
    "eps",
    "loss",
    "limit_train",
    "limit_test",
    "val_fraction",
    "tf32",
)
FIELDS = SUBJECT_FIELDS + SETTING_FIELDS
NO_FIGURES = ("failed", "timeout", "oom")  # runs without times or accuracies to compare
DEFAULT_COMPARED = ("framework", "device")


def _value(row: RunRow, name: str) -> Any:
    spec = row.spec
    if name == "model":
        # By the layers: two presets with one name but other layers are other models.
        layers = spec.get("model")
        return json.dumps(layers, sort_keys=True) if layers is not None else row["model"]
    return spec_field(row, name)  # a field left out at its default reads as that default


def _shown(row: RunRow, name: str, value: Any) -> str:
    if name == "model":
        return str(row["model"] or row.spec.get("model_name") or "custom")
    if name == "threads" and value is None:
        return "every core"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _key(row: RunRow, compared: Sequence[str]) -> tuple:
    def one(name: str) -> Any:
        if name in FIELDS:
            return _value(row, name)
        if name == "machine":  # a kind of hardware, as compare --by machine groups it
            from dlbench.store.machines import machine_label

            return machine_label(row["fingerprint"])
        return row.spec.get(name, row[name])

    return tuple(one(c) for c in compared)


def _subject(row: RunRow, compared: str | None) -> tuple:
    return tuple(_value(row, f) for f in SUBJECT_FIELDS if f != compared)


def _runs(ids: list[int]) -> str:
    ids = sorted(ids)
    return f"run{'s' if len(ids) > 1 else ''} {', '.join(str(i) for i in ids)}"


def _differs(groups: dict[tuple, list[RunRow]], name: str) -> bool:
    """The field's values are not the same set in every group (one group: not all equal)."""
    sets = [frozenset(_value(r, name) for r in rows) for rows in groups.values()]
    if len(sets) == 1:
        return len(sets[0]) > 1
    return any(s != sets[0] for s in sets[1:])


def _message(name: str, rows: Iterable[RunRow]) -> str:
    by_value: dict[str, list[int]] = {}
    labels: dict[Any, str] = {}
    for row in rows:
        raw = _value(row, name)
        if raw not in labels:
            label = _shown(row, name, raw)
            same = sum(1 for other in labels.values() if other.split(" (")[0] == label)
            labels[raw] = f"{label} (other layers, {same + 1})" if same else label
        by_value.setdefault(labels[raw], []).append(row.id)
    parts = "; ".join(f"{value} in {_runs(ids)}" for value, ids in by_value.items())
    return f"runs differ in {name} ({parts}): their times and accuracies are not comparable"


def fairness_warnings(rows: Sequence[RunRow], compared: str | None = None) -> list[str]:
    """One line per setting that differs between runs set side by side, other than `compared`
    (a run-spec field such as framework, device or lr; None: framework and device)."""
    rows = [r for r in rows if r.spec and r["status"] not in NO_FIGURES]
    dims = (compared,) if compared else DEFAULT_COMPARED
    fields = [f for f in FIELDS if f != compared]
    involved: dict[str, dict[int, RunRow]] = {}

    def flag(name: str, group: Iterable[RunRow]) -> None:
        involved.setdefault(name, {}).update({r.id: r for r in group})

    # Within one model on one dataset: the settings, across the compared values.
    by_subject: dict[tuple, list[RunRow]] = {}
    for row in rows:
        by_subject.setdefault(_subject(row, compared), []).append(row)
    for members in by_subject.values():
        groups: dict[tuple, list[RunRow]] = {}
        for row in members:
            groups.setdefault(_key(row, dims), []).append(row)
        if len(groups) == 1 and compared:
            continue  # one value of the compared field: nothing compared here
        for name in fields:
            if name not in SUBJECT_FIELDS and _differs(groups, name):
                flag(name, members)

    # Across models and datasets: two compared values that share no model and dataset at all
    # were never compared on the same thing (torch on one model, Keras on another).
    groups = {}
    for row in rows:
        groups.setdefault(_key(row, dims), []).append(row)
    subjects = {k: {_subject(r, compared) for r in g} for k, g in groups.items()}
    for a, b in combinations(groups, 2):
        if subjects[a].isdisjoint(subjects[b]):
            pair = groups[a] + groups[b]
            for name in SUBJECT_FIELDS:
                if name != compared and len({_value(r, name) for r in pair}) > 1:
                    flag(name, pair)
    return [_message(name, involved[name].values()) for name in FIELDS if name in involved]
