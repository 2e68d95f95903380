"""The machine and software a result was measured on, stored with every run.

Results without their context are noise: CPU model and cores, threads used, GPU, driver,
library versions, Python, OS, dlbench's version and git commit. On NVIDIA machines NVML adds
each GPU's UUID, power limit, clocks, MIG and ECC state, and the driver's CUDA version; the
environment variables that steer CUDA, XLA and the allocators are recorded as the parent saw
them (`environment`) and as the run's own process saw them (its device details).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from dlbench.version import __version__

LIBRARIES = (
    "numpy",
    "torch",
    "triton",  # torch.compile's GPU kernels
    "keras",
    "tensorflow",
    "tensorflow-cpu",
    "jax",
    "jaxlib",
    "jax-cuda12-plugin",
    "jax-cuda12-pjrt",
    "jax-cuda13-plugin",
    "jax-cuda13-pjrt",
    "nvidia-cudnn-cu12",
    "nvidia-cublas-cu12",
    "nvidia-cudnn-cu13",
    "nvidia-cublas",  # CUDA 13's wheels drop the -cu12 suffix
    "nvidia-cuda-runtime",
    "nvidia-ml-py",
    "pydantic",
)
# Every installed distribution with one of these prefixes is recorded too: the CUDA wheels
# (nvidia-cuda-runtime-cu12, nvidia-nccl-cu13, ...) and the JAX plugins change with each release.
LIBRARY_PREFIXES = ("nvidia-", "jax-cuda")
# The environment that changes what a GPU run computes or how it allocates, recorded per run.
ENV_RECORDED = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "CUDA_LAUNCH_BLOCKING",
    "CUBLAS_WORKSPACE_CONFIG",
    "NVIDIA_TF32_OVERRIDE",
    "XLA_FLAGS",
    "JAX_PLATFORMS",
    "JAX_DEFAULT_MATMUL_PRECISION",
    "TF_XLA_FLAGS",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_GPU_ALLOCATOR",
    "PYTORCH_CUDA_ALLOC_CONF",
    "KERAS_BACKEND",
)
ENV_PREFIXES = ("XLA_PYTHON_CLIENT_",)


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
    for name in _installed_names():
        if name.startswith(LIBRARY_PREFIXES) and name not in versions:
            try:
                versions[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
    return dict(sorted(versions.items()))


def _installed_names() -> set[str]:
    """The installed distributions' names, from their `.dist-info` folders' names (lower case,
    `_` as `-`): reading every distribution's METADATA instead took 0.27 s of each `dlbench
    run`'s start (314 distributions, this project's venv)."""
    names = set()
    for folder in sys.path:
        try:
            entries = os.listdir(folder or ".")
        except OSError:
            continue
        for entry in entries:
            if entry.endswith((".dist-info", ".egg-info")):
                stem = entry.rsplit(".", 1)[0]  # name-version, or a bare name (egg-info)
                names.add(stem.split("-", 1)[0].lower().replace("_", "-"))
    return names


def run_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The variables of ENV_RECORDED (and XLA_PYTHON_CLIENT_*) that are set, as the run's
    process sees them."""
    env = os.environ if env is None else env
    return {k: v for k, v in sorted(env.items()) if k in ENV_RECORDED or k.startswith(ENV_PREFIXES)}


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


def _nvml_call(fn, *args):
    """One NVML query; None where the GPU or driver does not support it."""
    try:
        value = fn(*args)
    except Exception:  # noqa: BLE001 - NVMLError_NotSupported and friends: unknown
        return None
    return value.decode() if isinstance(value, bytes) else value


def nvml_gpus() -> list[dict[str, Any]]:
    """What NVML tells of every GPU (in NVML's order, PCI bus order): name, UUID, memory,
    power limit, clocks, MIG, ECC and persistence mode; [] without NVML or a driver. Reads
    only, changes nothing."""
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except Exception:  # noqa: BLE001 - no NVML: nothing to tell
        return []
    nv = pynvml
    out = []
    for i in range(count):
        h = _nvml_call(nv.nvmlDeviceGetHandleByIndex, i)
        if h is None:
            continue
        mem = _nvml_call(nv.nvmlDeviceGetMemoryInfo, h)
        power_mw = _nvml_call(nv.nvmlDeviceGetEnforcedPowerLimit, h)
        mig = _nvml_call(nv.nvmlDeviceGetMigMode, h)
        ecc = _nvml_call(nv.nvmlDeviceGetEccMode, h)
        pci = _nvml_call(nv.nvmlDeviceGetPciInfo, h)
        bus = getattr(pci, "busId", None)
        out.append(
            {
                "index": i,
                "name": _nvml_call(nv.nvmlDeviceGetName, h),
                "uuid": _nvml_call(nv.nvmlDeviceGetUUID, h),
                "pci_bus_id": bus.decode() if isinstance(bus, bytes) else bus,
                "memory_total_bytes": int(mem.total) if mem is not None else None,
                "power_limit_w": power_mw / 1000 if power_mw is not None else None,
                "sm_clock_mhz": _nvml_call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM),
                "sm_clock_max_mhz": _nvml_call(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_SM),
                "mem_clock_max_mhz": _nvml_call(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_MEM),
                "mig_mode": mig[0] if mig is not None else None,  # (current, pending)
                "ecc_mode": ecc[0] if ecc is not None else None,
                "persistence_mode": _nvml_call(nv.nvmlDeviceGetPersistenceMode, h),
            }
        )
    return out


def nvidia_cuda_driver() -> str | None:
    """The CUDA version the driver supports (NVML), e.g. "12.8": not the toolkit a framework
    was built with, which each adapter records as `cuda`."""
    try:
        import pynvml

        pynvml.nvmlInit()
        v = int(pynvml.nvmlSystemGetCudaDriverVersion_v2())
    except Exception:  # noqa: BLE001 - no NVML
        return None
    return f"{v // 1000}.{v % 1000 // 10}"


def machine_fingerprint() -> dict[str, Any]:
    """What the parent knows without importing a framework; adapters add device details."""
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "physical_cores": physical_cores(),
        "nvidia_driver": nvidia_driver_version(),
        "nvidia_cuda_driver": nvidia_cuda_driver(),
        "gpus": nvml_gpus(),
        "environment": run_environment(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "hostname": platform.node(),
        "dlbench": __version__,
        "git_commit": _git_commit(),
        "libraries": library_versions(),
    }


def nvml_gpu_of(index: int, uuid: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """NVML's record (see `nvml_gpus`) of a framework's GPU `index` (CUDA's numbering of the
    visible GPUs; `uuid` when the framework tells it), found as the energy meter finds it, or
    (None, why not)."""
    from dlbench.measure.energy import nvml_index

    gpus = nvml_gpus()
    if not gpus:
        return None, "NVML is not installed or finds no driver (pip install nvidia-ml-py)"
    found, why = nvml_index(
        index,
        uuid,
        [(str(g["uuid"]), str(g["name"])) for g in gpus],
        os.environ.get("CUDA_VISIBLE_DEVICES"),
        os.environ.get("CUDA_DEVICE_ORDER"),
    )
    return (None, why) if found is None else (gpus[found], "")


def gpu_memory_bytes(index: int) -> int | None:
    """The GPU's total memory from NVML (not an allocator's pool), or None."""
    gpu, _ = nvml_gpu_of(index)
    return gpu["memory_total_bytes"] if gpu else None


def run_context(info: dict[str, Any]) -> dict[str, Any]:
    """What the run's own process adds to its device's details (`info`, from the adapter):
    the environment it ran with and, for a GPU, the driver, the driver's CUDA and NVML's state
    of that GPU (the UUID, when the framework gives none, comes from NVML: Keras on JAX or
    TensorFlow tells no UUID)."""
    out: dict[str, Any] = {"environment": run_environment()}
    device = str(info.get("device", "cpu"))
    if not device.startswith("cuda"):
        return out
    out["nvidia_driver"] = nvidia_driver_version()
    out["nvidia_cuda_driver"] = nvidia_cuda_driver()
    index = int(device.split(":")[1]) if ":" in device else 0
    gpu, why = nvml_gpu_of(index, info.get("gpu_uuid"))
    if gpu is None:
        out["nvml_note"] = why
        return out
    out["nvml"] = gpu
    if not info.get("gpu_uuid"):
        out["gpu_uuid"] = gpu["uuid"]
    return out
