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
import sys
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec

from dlbench import child
from dlbench.errors import UserError
from dlbench.frameworks import entry, missing_packages
from dlbench.frameworks.base import DeviceInfo, DeviceUnavailable

PROBE_TIMEOUT_S = 120


def child_env(framework: str, threads: int | None, device: str | None = None) -> dict[str, str]:
    """The environment of a process of `framework` (a run on `device`, or a probe: None)."""
    env = dict(os.environ)
    env.update(entry(framework).env)
    if uses_jax(framework):
        # JAX reserves 75% of a GPU's memory at start-up, so its peak would read as that pool
        # and a torch run after it could find the GPU full: allocate on demand instead.
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        if device == "cpu":
            env["JAX_PLATFORMS"] = "cpu"  # a CPU run starts no CUDA client (and reserves none)
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
    extra_env: dict[str, str] | None = None,
) -> tuple[str, str | None]:
    """`python ARGS` in `framework`'s environment (dlbench/child.py `run_python`), with
    `extra_env` over it."""
    env = {**child_env(framework, threads), **(extra_env or {})}
    return child.run_python(args, env, timeout_s, job)


def die_with_parent() -> None:
    """In the child, before exec: be killed when the parent dies (Linux), so a SIGKILLed suite
    leaves no orphan run computing on its own."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def parent_death_preexec():
    """Popen's `preexec_fn` for a child that must not outlive its parent: die_with_parent on
    Linux (where prctl exists), nothing elsewhere."""
    return die_with_parent if sys.platform == "linux" else None


JAX_CUDA_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin")  # `pip install 'jax[cuda12]'`


def uses_jax(framework: str) -> bool:
    return entry(framework).env.get("KERAS_BACKEND") == "jax"


def jax_cuda_error(framework: str) -> str | None:
    """Why JAX's CUDA backend does not start, in JAX's own words, or None when it does.

    By default JAX falls back to the CPU when its CUDA plugin fails (a driver too old for the
    plugin, a missing cuDNN) and says nothing: with JAX_PLATFORMS=cuda,cpu it must start CUDA
    or raise, and the error it raises is the reason worth showing."""
    code = (
        "import sys, jax\n"
        "try:\n"
        "    jax.devices('cuda')\n"
        "except Exception as exc:\n"
        "    sys.exit(' '.join(f'{type(exc).__name__}: {exc}'.split()))\n"
        "from dlbench.child import exit_now\n"
        "exit_now()\n"
    )
    env = {"JAX_PLATFORMS": "cuda,cpu"}
    _, error = run_python(["-c", code], framework, None, PROBE_TIMEOUT_S, extra_env=env)
    return error


@cache
def probe_devices(framework: str) -> tuple[DeviceInfo, ...]:
    """What `framework` sees, asked in a process of its own; not installed: one missing row.
    A probe that fails keeps the CPU (an installed framework runs there; a broken one fails as
    a run, with its message) and says why no GPU is listed."""
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
        "from dlbench.child import exit_now\n"
        "exit_now()  # JAX's or TensorFlow's shutdown would be most of the probe\n"
    )
    stdout, error = run_python(["-c", code], framework, None, PROBE_TIMEOUT_S)
    if error:
        return (
            DeviceInfo(framework, "cpu", True),
            DeviceInfo(framework, "cuda", False, reason=f"the device probe {error}"),
        )
    rows = [DeviceInfo(**row) for row in json.loads(stdout.strip().splitlines()[-1])]
    gpu_seen = any(d.available and d.device.startswith("cuda") for d in rows)
    if uses_jax(framework) and not gpu_seen and any(find_spec(p) for p in JAX_CUDA_PLUGINS):
        why = jax_cuda_error(framework)
        if why:
            rows = [d for d in rows if d.available or not d.device.startswith("cuda")]
            rows.append(DeviceInfo(framework, "cuda", False, reason=f"JAX's CUDA backend {why}"))
    return tuple(rows)


@dataclass(frozen=True)
class Dropped:
    """A framework/device pair `all` asked for and that will not run, with the reason."""

    framework: str
    device: str
    reason: str

    def __str__(self) -> str:
        return f"{self.framework} on {self.device}: {self.reason}"


def canonical_device(device: str) -> str:
    """`cuda` is `cuda:0`: one GPU under one name in run ids, config keys and reports."""
    return "cuda:0" if device == "cuda" else device


def _named(framework: str, device: str, seen) -> tuple[str | None, str]:
    """(the canonical device, "") when `framework` can use the named `device`, else (None,
    why not)."""
    want = canonical_device(device)
    for d in seen:
        # An unavailable GPU is listed as plain `cuda`: it stands for every cuda:N.
        if canonical_device(d.device) == want or (d.device == "cuda" and want.startswith("cuda")):
            return (want, "") if d.available else (None, d.reason)
    return None, f"{framework} cannot see {device}; `dlbench list devices` shows what it sees"


def pick_devices(
    framework: str,
    device: str,
    seen: tuple[DeviceInfo, ...] | list[DeviceInfo],
    skip_unavailable: bool = False,
) -> tuple[list[str], list[Dropped]]:
    """The concrete devices a run of `framework` on `device` uses, given what the framework
    sees, and the pairs left out with their reason. `all` leaves out what is unavailable; so
    does `skip_unavailable` (for `--framework all`) for a named device; otherwise a named
    device the framework cannot use is a DeviceUnavailable naming why."""
    if device == "all":
        use = [canonical_device(d.device) for d in seen if d.available]
        dropped = [Dropped(framework, d.device, d.reason) for d in seen if not d.available]
        return use, dropped
    use, why = _named(framework, device, seen)
    if use is not None:
        return [use], []
    if skip_unavailable:
        return [], [Dropped(framework, device, why)]
    raise DeviceUnavailable(f"{framework} cannot use {device}: {why}; use --device cpu")


def resolve_devices(
    framework: str, device: str, skip_unavailable: bool = False
) -> tuple[list[str], list[Dropped]]:
    """Concrete devices for a run (`cuda` becomes `cuda:0`, `all` expands) and the pairs
    dropped (see `pick_devices`)."""
    if device == "cpu" and not missing_packages(framework):
        return ["cpu"], []
    return pick_devices(framework, device, probe_devices(framework), skip_unavailable)


def resolve_device(framework: str, device: str) -> list[str]:
    """Concrete devices for a run: `all` expands; an unavailable device is a UserError."""
    return resolve_devices(framework, device)[0]


def expand_pairs(
    frameworks: list[str], device: str, every_framework: bool
) -> tuple[list[tuple[str, str]], list[Dropped]]:
    """(framework, device) pairs to run, and those dropped with their reason. With
    `--framework all` (`every_framework`), a framework that cannot use a named device is
    skipped and listed, not an error; it is an error only when no pair is left."""
    pairs: list[tuple[str, str]] = []
    dropped: list[Dropped] = []
    for fw in frameworks:
        use, left = resolve_devices(fw, device, skip_unavailable=every_framework)
        pairs += [(fw, d) for d in use]
        dropped += left
    if not pairs and dropped:
        why = "; ".join(str(d) for d in dropped)
        raise UserError(f"nothing to run on {device}: {why}")
    return pairs, dropped
