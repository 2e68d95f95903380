"""The noise guard flags a run started while another process keeps a core busy."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import needs_torch

pytestmark = [needs_torch, pytest.mark.slow]  # trains in a child process


def test_busy_machine_flags_the_run(tmp_path, cli, busy_core):
    db = tmp_path / "noisy.sqlite"
    out = cli(
        "run",
        "--model",
        "a-mlp",
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--framework",
        "torch",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--no-save",
        "--db",
        str(db),
    )
    assert out.returncode == 0, out.stderr + out.stdout
    with sqlite3.connect(db) as conn:
        noisy, before, during = conn.execute(
            "SELECT noisy, load_before_pct, load_during_pct FROM runs"
        ).fetchone()
    assert noisy == 1, (before, during)
    # "during" is None when the timed work took under a second (too short to measure)
    assert max(v for v in (before, during) if v is not None) > 25
    assert "other processes used" in out.stdout and "close them and rerun" in out.stdout
