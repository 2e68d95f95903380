"""The load meter sees another process's CPU use and not our own."""

from __future__ import annotations

import time

import pytest

from dlbench.measure.noise import LoadMeter, is_noisy, sample_other_load


def test_busy_process_is_seen(busy_core):
    load = sample_other_load(0.6)
    assert load is not None and load > 25, load


def test_own_work_is_not_counted():
    """Our own CPU time (here a busy loop in this process) is subtracted, and only it. Other
    engineers' processes may run meanwhile: they are in the machine's total as in the meter's
    figure, so the meter must come out at the machine's busy time minus ours, within the
    kernel's 10 ms ticks (each core's and ours, at each end of the window). A meter that left
    our loop in would be off by the whole loop: half a CPU second, however loaded the machine."""
    import os

    import psutil

    def machine_busy_s() -> float:
        t = psutil.cpu_times()
        fields = ("user", "nice", "system", "irq", "softirq", "steal")
        return sum(getattr(t, f, 0.0) for f in fields)

    meter = LoadMeter.start()
    wall0, machine0, own0 = time.perf_counter(), machine_busy_s(), time.process_time()
    while time.process_time() - own0 < 0.5 and time.perf_counter() - wall0 < 20:
        pass
    load = meter.other_pct(min_window_s=0)
    wall = time.perf_counter() - wall0
    machine_pct = 100 * (machine_busy_s() - machine0) / wall
    own_pct = 100 * (time.process_time() - own0) / wall
    ticks_pct = 100 * 0.01 * 2 * ((os.cpu_count() or 1) + 1) / wall
    assert own_pct > 2 * (ticks_pct + 2), (own_pct, ticks_pct)  # ours tells the two apart
    assert load is not None
    assert load == pytest.approx(max(0.0, machine_pct - own_pct), abs=ticks_pct + 2), (
        load,
        machine_pct,
        own_pct,
    )


def test_short_window_gives_no_figure():
    assert LoadMeter.start().other_pct() is None  # shorter than a second: ticks too coarse


def test_is_noisy():
    assert is_noisy(30.0, None)
    assert not is_noisy(None, 10.0)
    assert not is_noisy(None, None)
