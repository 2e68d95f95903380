"""The console every command prints to: as wide as the terminal, wide enough when piped."""

from __future__ import annotations

import os
import sys

from rich.console import Console

PIPED_WIDTH = 240  # a file or a pipe has no width; tables must not wrap into columns of 2 chars


def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH
    return Console(stderr=stderr, width=width)
