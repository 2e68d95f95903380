"""The load meter sees another process's CPU use and not our own."""

from __future__ import annotations

import subprocess
import sys
import time

from dlbench.measure.noise import LoadMeter, is_noisy, sample_other_load


def test_busy_process_is_seen():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        load = sample_other_load(0.6)
    finally:
        busy.kill()
        busy.wait()
    assert load is not None and load > 25, load


def test_own_work_is_not_counted():
    """Our own CPU time (here a busy loop in this process) is subtracted. Other engineers'
    processes may run meanwhile, so only the bound that cannot fail is checked: less than
    the machine minus the core we kept busy."""
    import os

    meter = LoadMeter.start()
    end = time.perf_counter() + 0.6
    while time.perf_counter() < end:
        pass
    load = meter.other_pct(min_window_s=0)
    assert load is not None and load <= 100 * (os.cpu_count() or 1) - 50


def test_short_window_gives_no_figure():
    assert LoadMeter.start().other_pct() is None  # shorter than a second: ticks too coarse


def test_is_noisy():
    assert is_noisy(30.0, None)
    assert not is_noisy(None, 10.0)
    assert not is_noisy(None, None)
