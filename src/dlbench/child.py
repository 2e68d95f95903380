"""A dlbench module in a child process: a JSON job on its stdin, one marked JSON line out.

Whatever needs a framework runs so (a run, the device probe, the parity check, the report's
sample predictions): the parent never imports one, and a crash or a hang in the child is an
error message, not a dead parent. Imports nothing but the standard library and errors.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Any, NoReturn

from dlbench.errors import last_line

RESULT = "DLBENCH-RESULT "  # the start of the child's result line


def run_python(
    args: list[str], env: dict[str, str] | None, timeout_s: float, job: dict | None = None
) -> tuple[str, str | None]:
    """`python ARGS` with `env`, `job` as JSON on its stdin: (stdout, None), or (stdout so
    far, why it failed: "timed out after N s" or "exited with code C: <the last line it wrote
    to stderr>")."""
    try:
        out = subprocess.run(
            [sys.executable, *args],
            input=None if job is None else json.dumps(job),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "", f"timed out after {timeout_s:.0f} s"
    if out.returncode != 0:
        return out.stdout, f"exited with code {out.returncode}: {last_line(out.stderr)}"
    return out.stdout, None


def send(value: Any, marker: str = RESULT) -> None:
    """In the child: the result, on one line that framework output cannot be taken for."""
    print(marker + json.dumps(value), flush=True)


def exit_now(code: int = 0) -> NoReturn:
    """In the child, once its result is out: exit without the interpreter's shutdown.

    Tearing torch, TensorFlow or JAX down module by module is paid by every run and gives
    nothing back: about a second a process (benchmarks/harness.py times both ways side by
    side, docs/performance.md "Harness cost"). Call it only when nothing is left to do: the
    result sent, files written and closed. stdout and stderr are flushed first."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed: nothing more can reach it
            stream.flush()
    os._exit(code)


def received(stdout: str, marker: str = RESULT) -> Any | None:
    """In the parent: the child's result (the last marked line), or None when it wrote none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(marker):
            return json.loads(line[len(marker) :])
    return None
