"""`dlbench data`: the table of built-in datasets and where they are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dlbench.cli.data  # noqa: F401  (registers the command)
from dlbench.cli import app


def test_data_command_lists_every_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    result = CliRunner().invoke(app, ["data", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("fashion-mnist", "mnist", "cifar10", "digits"):
        assert name in result.output
    assert "downloads are off" in result.output
    assert "folder:PATH" in result.output and "synthetic:CxHxW[:N[:K]]" in result.output


def test_python_m_dlbench_data(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DLBENCH_NO_DOWNLOAD": "1",
        "XDG_CACHE_HOME": str(tmp_path),
        "COLUMNS": "250",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "dlbench", "data"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "fashion-mnist" in proc.stdout and "digits" in proc.stdout
