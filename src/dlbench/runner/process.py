"""Starting a framework's own process: its environment, and what it can see.

Keras reads its backend and TensorFlow its thread pools once, at import, so they are set in
the environment of the run's process before anything is imported. The device probe runs in
such a process too, so that `dlbench list devices` and `--device all` never import a framework
into the parent.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
from functools import cache

from dlbench import child
from dlbench.errors import UserError
from dlbench.frameworks import entry, missing_packages
from dlbench.frameworks.base import DeviceInfo

PROBE_TIMEOUT_S = 120


def child_env(framework: str, threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(entry(framework).env)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    env.setdefault("PYTHONUNBUFFERED", "1")
    if threads:
        # Read at import by OpenMP (torch) and TensorFlow.
        env["OMP_NUM_THREADS"] = str(threads)
        env["TF_NUM_INTRAOP_THREADS"] = str(threads)
        env["TF_NUM_INTEROP_THREADS"] = str(min(threads, 2))
    return env


def run_python(
    args: list[str],
    framework: str,
    threads: int | None,
    timeout_s: float,
    job: dict | None = None,
) -> tuple[str, str | None]:
    """`python ARGS` in `framework`'s environment (dlbench/child.py `run_python`)."""
    return child.run_python(args, child_env(framework, threads), timeout_s, job)


def die_with_parent() -> None:
    """In the child, before exec: be killed when the parent dies (Linux), so a SIGKILLed suite
    leaves no orphan run computing on its own."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@cache
def probe_devices(framework: str) -> tuple[DeviceInfo, ...]:
    """What `framework` sees, asked in a process of its own; not installed: one missing row."""
    missing = missing_packages(framework)
    if missing:
        return (
            DeviceInfo(
                framework,
                "cpu",
                False,
                reason=f"not installed ({', '.join(missing)}): {entry(framework).install}",
            ),
        )
    code = (
        "import json, dataclasses\n"
        "from dlbench.frameworks import adapter\n"
        f"print(json.dumps([dataclasses.asdict(d) for d in adapter({framework!r}).devices()]))\n"
    )
    stdout, error = run_python(["-c", code], framework, None, PROBE_TIMEOUT_S)
    if error:
        return (DeviceInfo(framework, "cpu", False, reason=f"the device probe {error}"),)
    rows = json.loads(stdout.strip().splitlines()[-1])
    return tuple(DeviceInfo(**row) for row in rows)


def resolve_device(framework: str, device: str) -> list[str]:
    """Concrete devices for a run: `all` expands; an unavailable device is a UserError."""
    if device == "cpu" and not missing_packages(framework):
        return ["cpu"]
    seen = probe_devices(framework)
    if device == "all":
        return [d.device for d in seen if d.available]
    for d in seen:
        if d.device == device or (device == "cuda" and d.device == "cuda:0"):
            if d.available:
                return [device]
            raise UserError(f"{framework} cannot use {device}: {d.reason}; use --device cpu")
    raise UserError(f"{framework} cannot see {device}; `dlbench list devices` shows what it sees")
