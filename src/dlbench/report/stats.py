"""Statistics over repeats: one configuration, several runs, a centre and an interval.

A configuration is every run whose resolved spec is the same once `repeat` and `seed` are left
out, on the same machine (hostname and CPU). For each metric we give the median, min, max, the
interquartile range, and a 95% interval of the median from a bootstrap (2,000 resamples, a fixed
seed, so the same runs always print the same interval). MLPerf's trimmed mean (the fastest and
the slowest run dropped) is an option for the centre. One run has no interval and says so.

Two configurations differ clearly when their intervals do not overlap; otherwise the honest
answer is "no clear difference", whatever the medians say.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlbench.store.db import RunRow

METRICS = ("steady_epoch_s", "train_s", "test_s", "test_acc")
TIME_METRICS = ("steady_epoch_s", "train_s", "test_s", "first_epoch_s", "tta_s")
RESAMPLES = 2000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
ONE_RUN = "1 run, no interval"
NO_CLEAR_DIFFERENCE = "no clear difference"
HIGH_CV = 0.05  # coefficient of variation above which repeats disagree too much
# Spec fields that differ between repeats of one configuration.
REPEAT_FIELDS = ("repeat", "seed")


def _median(a: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(a, axis=axis)


def _trimmed(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """MLPerf's rule: drop the lowest and the highest value, average the rest (3 or more)."""
    a = np.sort(a, axis=axis)
    n = a.shape[axis]
    if n < 3:
        return np.mean(a, axis=axis)
    return np.mean(np.take(a, range(1, n - 1), axis=axis), axis=axis)


CENTRES: dict[str, Callable[..., np.ndarray]] = {"median": _median, "trimmed-mean": _trimmed}


@dataclass(frozen=True)
class Summary:
    """One metric over the runs of one configuration."""

    values: tuple[float, ...]
    centre: float | None  # the median (or the trimmed mean)
    centre_kind: str
    min: float | None
    max: float | None
    q1: float | None
    q3: float | None
    lo: float | None  # 95% bootstrap interval of the centre; None for one run
    hi: float | None
    mean: float | None
    stdev: float | None  # sample standard deviation; None for one run

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def iqr(self) -> float | None:
        return None if self.q1 is None or self.q3 is None else self.q3 - self.q1

    @property
    def cv(self) -> float | None:
        """Coefficient of variation (stdev / mean); None for fewer than two runs."""
        if self.stdev is None or not self.mean:
            return None
        return self.stdev / abs(self.mean)

    @property
    def has_interval(self) -> bool:
        return self.lo is not None and self.hi is not None

    def interval_text(self, fmt: Callable[[float], str] = lambda v: f"{v:.3g}") -> str:
        if self.n == 0:
            return "n/a"
        if not self.has_interval:
            return ONE_RUN
        return f"[{fmt(self.lo)}, {fmt(self.hi)}]"

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "centre": self.centre,
            "centre_kind": self.centre_kind,
            "min": self.min,
            "max": self.max,
            "q1": self.q1,
            "q3": self.q3,
            "iqr": self.iqr,
            "ci95_lo": self.lo,
            "ci95_hi": self.hi,
            "mean": self.mean,
            "stdev": self.stdev,
            "cv": self.cv,
            "values": list(self.values),
        }


def bootstrap_interval(
    values: Iterable[float],
    centre: str = "median",
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the centre; None for fewer than two values."""
    a = np.asarray(list(values), dtype=float)
    if len(a) < 2:
        return None
    rng = np.random.default_rng(seed)
    samples = a[rng.integers(0, len(a), size=(resamples, len(a)))]
    stats = CENTRES[centre](samples, axis=1)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return float(lo), float(hi)


def summarize(values: Iterable[float | None], centre: str = "median") -> Summary:
    """Summary of the finite values given (None and NaN are left out)."""
    clean = tuple(
        float(v)
        for v in values
        if v is not None and isinstance(v, (int, float)) and math.isfinite(v)
    )
    if not clean:
        return Summary((), None, centre, None, None, None, None, None, None, None, None)
    a = np.asarray(clean)
    interval = bootstrap_interval(a, centre)
    q1, q3 = np.percentile(a, [25, 75])
    return Summary(
        values=clean,
        centre=float(CENTRES[centre](a)),
        centre_kind=centre,
        min=float(a.min()),
        max=float(a.max()),
        q1=float(q1),
        q3=float(q3),
        lo=interval[0] if interval else None,
        hi=interval[1] if interval else None,
        mean=float(a.mean()),
        stdev=float(a.std(ddof=1)) if len(a) > 1 else None,
    )


def overlap(a: Summary, b: Summary) -> bool:
    """Whether the two 95% intervals share any value (both must have one)."""
    return bool(a.has_interval and b.has_interval and a.lo <= b.hi and b.lo <= a.hi)


def verdict(a: Summary, b: Summary) -> str | None:
    """None when the intervals separate a and b; otherwise why they cannot be told apart."""
    if a.n < 2 or b.n < 2:
        return ONE_RUN
    if overlap(a, b):
        return NO_CLEAR_DIFFERENCE
    return None


# -- configurations ----------------------------------------------------------------------


def metric_value(row: RunRow, metric: str) -> Any:
    """A run's value of a metric; accuracy of synthetic data (random labels) is not one."""
    if metric == "test_acc" and row["synthetic"]:
        return None
    return row[metric]


# Fields a stored spec leaves out when they hold their default (spec/run.py `resolved`, so
# that older run ids stay the same): read as that default.
_LEFT_OUT_AT_DEFAULT = {"keep": "last", "tf32": "off"}


def spec_field(row: RunRow, name: str) -> Any:
    """A field of the run: its spec first (any RunSpec field), then its stored columns."""
    spec = row.spec
    if name in ("model", "model_name"):
        return row["model"] or spec.get("model_name")
    if name == "machine":  # a kind of hardware (store/machines.py), not a hostname
        from dlbench.store.machines import machine_label

        return machine_label(row["fingerprint"])
    if name in spec:
        value = spec[name]
        return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
    if spec and name in _LEFT_OUT_AT_DEFAULT:
        return _LEFT_OUT_AT_DEFAULT[name]
    return row[name]


def config_key(row: RunRow, leave_out: Iterable[str] = (), keep: Iterable[str] = ()) -> str:
    """Runs with equal keys are repeats of one configuration (on one machine). `leave_out`:
    more fields to ignore; `keep`: repeat fields not to ignore (to compare repeats)."""
    spec = dict(row.spec)
    drop = (set(REPEAT_FIELDS) - set(keep)) | set(leave_out)
    if "model" in drop:
        drop |= {"model_name"}
    for name in drop:
        spec.pop(name, None)
    fp = row["fingerprint"] or {}
    if "machine" not in drop:
        spec["__machine"] = [fp.get("hostname"), fp.get("cpu")]
    if not row.spec:  # a run stored without its spec: its id is all we have
        spec["__id"] = row.id
    return json.dumps(spec, sort_keys=True, default=str)


@dataclass
class Config:
    """The runs of one configuration and their summaries."""

    key: str
    runs: list[RunRow]
    centre: str = "median"
    _cache: dict[str, Summary] = field(default_factory=dict)

    @property
    def first(self) -> RunRow:
        return self.runs[0]

    def summary(self, metric: str) -> Summary:
        if metric not in self._cache:
            self._cache[metric] = summarize(
                (metric_value(r, metric) for r in self.runs), self.centre
            )
        return self._cache[metric]

    def label(self) -> str:
        r = self.first
        return f"{r['model']} / {r['dataset']} / {r['framework']} / {r['device']}"


def configurations(
    rows: list[RunRow], centre: str = "median", keep: Iterable[str] = ()
) -> list[Config]:
    """Finished runs grouped into configurations, in the order each first appears."""
    groups: dict[str, Config] = {}
    for r in rows:
        if r["status"] != "finished":
            continue
        key = config_key(r, keep=keep)
        groups.setdefault(key, Config(key, [], centre)).runs.append(r)
    return list(groups.values())


# -- warnings that name the fix (hyperfine-style) -----------------------------------------


def repeat_warnings(configs: list[Config]) -> list[str]:
    """High variance across repeats, and a GPU that loses to the CPU."""
    out = []
    for c in configs:
        s = c.summary("steady_epoch_s")
        if s.cv is not None and s.cv > HIGH_CV:
            ids = ", ".join(str(r.id) for r in c.runs)
            if s.n < 5:
                fix = "add --repeats, and check the machine is quiet"
            elif s.centre is not None and s.centre < 1:
                fix = (
                    f"check the machine is quiet; epochs of {s.centre:.2g} s time noisily, "
                    "more data per epoch helps"
                )
            else:
                fix = "check the machine is quiet"
            out.append(
                f"{c.label()} (runs {ids}): the steady epoch time varies by {s.cv:.1%} "
                f"(coefficient of variation) over {s.n} runs: {fix}"
            )
    # A GPU slower than the CPU on the same configuration.
    by_rest: dict[str, dict[str, Config]] = {}
    for c in configs:
        by_rest.setdefault(config_key(c.first, ("device",)), {})[str(c.first["device"])] = c
    for devices in by_rest.values():
        cpu = devices.get("cpu")
        if cpu is None or cpu.summary("steady_epoch_s").centre is None:
            continue
        for dev, gpu in devices.items():
            t = gpu.summary("steady_epoch_s").centre
            if dev != "cpu" and t is not None and t > cpu.summary("steady_epoch_s").centre:
                out.append(
                    f"{gpu.label()}: the GPU is slower than the CPU "
                    f"({t:.3g} s against {cpu.summary('steady_epoch_s').centre:.3g} s an epoch): "
                    "the model is too small to feed the GPU: see `dlbench run crossover`"
                )
    return out
