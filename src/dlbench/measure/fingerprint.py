"""The machine and software a result was measured on, stored with every run.

Results without their context are noise: CPU model and cores, threads used, GPU, driver,
library versions, Python, OS, dlbench's version and git commit.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from dlbench.version import __version__

LIBRARIES = (
    "numpy",
    "torch",
    "keras",
    "tensorflow",
    "tensorflow-cpu",
    "jax",
    "jaxlib",
    "jax-cuda12-plugin",
    "nvidia-cudnn-cu12",
    "nvidia-cublas-cu12",
    "nvidia-ml-py",
    "pydantic",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    src = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - unknown is None
        return None


def nvidia_driver_version() -> str | None:
    """The NVIDIA driver's version from NVML, or from /proc on Linux; None without one."""
    try:
        import pynvml

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:  # noqa: BLE001 - no NVML: try the kernel module's file
        pass
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return None
    for word in text.split():
        if word.count(".") >= 1 and word.replace(".", "").isdigit():
            return word
    return None


def machine_fingerprint() -> dict[str, Any]:
    """What the parent knows without importing a framework; adapters add device details."""
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "physical_cores": physical_cores(),
        "nvidia_driver": nvidia_driver_version(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "hostname": platform.node(),
        "dlbench": __version__,
        "git_commit": _git_commit(),
        "libraries": library_versions(),
    }
