"""How busy the machine is with work that is not ours: the noise guard.

A run that shares its cores with another program is slower for reasons that have nothing to do
with the model, and its time says nothing. Before a run (a short sample) and over the whole run,
we read the machine's total CPU time (`psutil.cpu_times`, /proc/stat on Linux) and subtract the
CPU time of this process and its reaped children (`os.times`), which is the run itself: what is
left is what other processes used, in percent of one core (100 = one core busy the whole time).
Processes that start and end during the run are counted too, since the total comes from the
kernel, not from a list of processes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

NOISY_PCT = 25.0  # other processes above this share of one core flag the run
SAMPLE_S = 0.5  # the sample taken before each run
# The kernel counts busy time in ticks (10 ms): over a shorter window the figure could be off
# by more than the threshold, so shorter windows give no figure (the sample before still does).
MIN_WINDOW_S = 1.0
_BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal")  # steal: other VMs


def _machine_busy_s() -> float:
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in _BUSY_FIELDS)


def _own_busy_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class LoadMeter:
    """Started before the work; `other_pct()` after it (and after its child process is reaped)."""

    wall0: float = 0.0
    busy0: float = 0.0
    own0: float = 0.0

    @classmethod
    def start(cls) -> LoadMeter:
        return cls(time.perf_counter(), _machine_busy_s(), _own_busy_s())

    def other_pct(self, min_window_s: float = MIN_WINDOW_S) -> float | None:
        wall = time.perf_counter() - self.wall0
        if wall <= 0 or wall < min_window_s:
            return None
        other = (_machine_busy_s() - self.busy0) - (_own_busy_s() - self.own0)
        return max(0.0, 100.0 * other / wall)


def sample_other_load(seconds: float = SAMPLE_S) -> float | None:
    """Percent of one core used by other processes over the next `seconds` (we sleep meanwhile)."""
    try:
        meter = LoadMeter.start()
        time.sleep(seconds)
        return meter.other_pct(min_window_s=0)
    except Exception:  # noqa: BLE001 - no reading is "n/a", never a failed run
        return None


def is_noisy(*loads: float | None, threshold: float = NOISY_PCT) -> bool:
    return any(v is not None and v > threshold for v in loads)
