"""Scaling a suite down (`--quick`) and standing in for absent datasets (`--synthetic-if-missing`).

`--quick` keeps every run of a suite, on a slice of the data, for at most two epochs and with
batches of at least 16, so
that any suite finishes in a couple of minutes on 2 CPU cores (CI runs every suite this way).
`--synthetic-if-missing` replaces a dataset that is not on this machine by synthetic data of
the same shape and number of classes: the run then times the model, and every table labels
it as synthetic, timing only.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from dlbench.spec.layers import summarize
from dlbench.spec.presets import PRESETS
from dlbench.spec.run import RunSpec

QUICK_EPOCHS = 2
QUICK_TRAIN = 512
QUICK_TEST = 256
QUICK_MIN_BATCH = 16  # report A's batch of 1 would make a quick run take minutes


def _smaller(value: int | None, cap: int) -> int:
    return cap if value is None else min(value, cap)


def quick(runs: list[RunSpec]) -> list[RunSpec]:
    return [
        r.model_copy(
            update={
                "epochs": min(r.epochs, QUICK_EPOCHS),
                "limit_train": _smaller(r.limit_train, QUICK_TRAIN),
                "limit_test": _smaller(r.limit_test, QUICK_TEST),
                "batch_size": max(r.batch_size, QUICK_MIN_BATCH),
            }
        )
        for r in runs
    ]


def _folder_shape(dataset: str, run: RunSpec) -> tuple[int, int, int] | None:
    """(C, H, W) a folder dataset would have, from its ?size=&color= options or the preset."""
    query = parse_qs(urlsplit(dataset.split(":", 1)[1]).query)
    size = query.get("size", [None])[0]
    color = query.get("color", ["gray"])[0]
    if size:
        h, _, w = size.lower().partition("x")
        return (1 if color == "gray" else 3, int(h), int(w or h))
    preset = PRESETS.get(run.model) if isinstance(run.model, str) else None
    return preset.input_shape if preset else None


def _available(dataset: str, data_dir: Path | None) -> bool:
    from dlbench.data import locate

    if dataset.startswith("synthetic:") or dataset == "digits":
        return True
    found, _ = locate(dataset, data_dir)
    return found is not None


def synthetic_stand_ins(
    runs: list[RunSpec], data_dir: Path | None
) -> tuple[list[RunSpec], list[str]]:
    """Runs with absent datasets moved to synthetic data of the same shape; notes saying so."""
    from dlbench.data import dataset_info

    out, notes, seen = [], [], set()
    for run in runs:
        if _available(run.dataset, data_dir):
            out.append(run)
            continue
        if run.dataset.startswith("folder:"):
            shape = _folder_shape(run.dataset, run)
        else:
            shape = dataset_info(run.dataset, data_dir).input_shape
        if shape is None:
            out.append(run)  # planning will say what is missing
            continue
        units = summarize(run.model_spec(), shape).output_units
        classes = 2 if units == 1 else units
        n = run.limit_train or 10000
        stand_in = f"synthetic:{shape[0]}x{shape[1]}x{shape[2]}:{n}:{classes}"
        if run.dataset not in seen:
            seen.add(run.dataset)
            notes.append(
                f"{run.dataset} is not on this machine: its runs use {stand_in} "
                "(random data, timing only)"
            )
        out.append(run.model_copy(update={"dataset": stand_in}))
    return out, notes
