"""How many CPU threads a run trains with, and, under `tuned`, choosing them by measurement.

Imports no framework: an adapter hands `sweep` its own training step, its synchronise and its
way of setting the thread count. Which count is fastest is not knowable in advance: on 2 cores
a plain torch loop trained a-mlp at batch 32 faster on 1 thread than on 2, and a CNN at batch
100 the other way round (issue 17). So `tuned`, given no `--threads`, times a few steps at each
candidate count during the untimed warm-up and keeps the fastest; the adapter restores the
model afterwards, as warm-up already does.

How a run's count was chosen is stored in its options as `threads_chosen_by`:
- "sweep": measured, with `thread_sweep` ({count: seconds per step}) and `sweep_s`;
- "forced (--threads N)": the run's `threads`, no sweep;
- "framework default": `default` tuning (or a GPU run): the framework's own count, untouched;
- "fixed: <why>": a framework whose thread pool cannot change once its runtime has started
  (TensorFlow, XLA:CPU under JAX, torch.compile's kernels), kept at its default.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SWEPT = "sweep"
DEFAULT = "framework default"
STEPS = 60  # timed steps per count at most, over all rounds: a few dozen
ROUNDS = 3  # the counts are timed in turn, this many times: load that comes and goes hits all
BUDGET_S = 1.5  # what a sweep may take (a slow step times fewer steps, in fewer rounds)
# A count is kept over a smaller one only when it is faster by more than this: differences
# below it are within a short sweep's noise, and fewer threads leave cores to others and lose
# less when another process takes a core (docs/performance.md, "torch under contention").
NOISE = 0.05


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity, which a pinned run narrows)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def candidates(cores: int) -> list[int]:
    """1, 2, 4, ... below `cores`, and `cores` itself: [1, 2, 4, 6] for 6 cores."""
    counts = [1]
    while counts[-1] * 2 < cores:
        counts.append(counts[-1] * 2)
    if cores > 1:
        counts.append(cores)
    return counts


def forced(threads: int) -> str:
    return f"forced (--threads {threads})"


def fixed(why: str) -> str:
    return f"fixed: {why}"


def plan(threads: int | None, tuning: str, on_cpu: bool, fixed_why: str | None = None) -> str:
    """How this run's thread count is chosen (a `threads_chosen_by` value): SWEPT means the
    adapter sweeps in its warm-up."""
    if threads:
        return forced(threads)
    if tuning != "tuned" or not on_cpu:
        return DEFAULT  # a GPU run's step waits on the GPU, not on the CPU's threads
    if fixed_why:
        return fixed(fixed_why)
    return SWEPT if len(candidates(usable_cores())) > 1 else fixed("one CPU core")


@dataclass(frozen=True)
class Sweep:
    """What a sweep measured: the best seconds per step of each count, and the count kept."""

    per_step_s: dict[int, float]
    chosen: int
    sweep_s: float  # the whole sweep, untimed steps included

    def options(self) -> dict[str, Any]:
        """The run options that record it."""
        return {
            "threads": self.chosen,
            "threads_chosen_by": SWEPT,
            "thread_sweep": {str(c): s for c, s in self.per_step_s.items()},
            "sweep_s": self.sweep_s,
        }


def pick(per_step_s: dict[int, float], noise: float = NOISE) -> int:
    """The fewest threads within `noise` of the fastest count."""
    fastest = min(per_step_s.values())
    return min(c for c, s in per_step_s.items() if s <= fastest * (1 + noise))


def sweep(
    step: Callable[[], object],
    counts: list[int],
    set_threads: Callable[[int], None],
    sync: Callable[[], None] = lambda: None,
    steps: int = STEPS,
    rounds: int = ROUNDS,
    budget_s: float = BUDGET_S,
) -> Sweep:
    """Time `step` at each thread count and set the chosen one. Each turn of a count first runs
    one untimed step (the pool at its new size, caches warm), which also sizes the turn: as
    many steps as fit the turn's share of `budget_s` (at least one, at most steps / rounds),
    timed between two synchronised reads. A count's figure is its best turn, the least
    disturbed by other processes. Rounds after the first are skipped once the budget is spent,
    so a slow step costs about one turn per count. `step` changes the model: the caller
    restores it afterwards."""
    start = time.perf_counter()
    share = budget_s / (rounds * len(counts))
    best = dict.fromkeys(counts, math.inf)
    for turn in range(rounds):
        if turn and time.perf_counter() - start > budget_s:
            break
        for count in counts:
            set_threads(count)
            t0 = time.perf_counter()
            step()
            sync()
            untimed = max(time.perf_counter() - t0, 1e-9)
            n = max(1, min(steps // rounds, int(share / untimed)))
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            sync()
            best[count] = min(best[count], (time.perf_counter() - t0) / n)
    chosen = pick(best)
    set_threads(chosen)
    return Sweep(best, chosen, time.perf_counter() - start)


def describe(options: dict[str, Any]) -> str | None:
    """One line for `dlbench show`: the threads and how they were chosen; None for a run
    stored before threads were chosen by measurement."""
    how = options.get("threads_chosen_by")
    if how is None:
        return None
    threads = options.get("threads")
    if how != SWEPT:
        return f"{threads} ({how})"
    timed = ", ".join(
        f"{c} → {s * 1e3:.3g} ms/step"
        for c, s in sorted((int(c), s) for c, s in (options.get("thread_sweep") or {}).items())
    )
    return f"{threads} (swept in warm-up: {timed})"
