"""The Keras backend of this process, chosen once, and what the adapter tells about devices.

Keras reads KERAS_BACKEND once, at import (runner/process.py sets it in the run's own process);
`impl` is the module of the same name beside this one (tensorflow.py, jax.py, torch.py), which
holds everything that differs between backends under the same names.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator

# Keras imports these at its own import when they are installed, for what a run never uses:
# matplotlib (plot_image_gallery), pandas (DataFrame inputs), scikit-learn (its wrappers) and,
# on the other backends, JAX (a shim for orbax checkpoints). Every one of those imports is
# guarded by `except ImportError`, so hiding them while Keras imports saves seconds per run
# (tests/frameworks/test_child_imports.py holds Keras to that); they stay importable after.
NOT_FOR_A_RUN = ("matplotlib", "pandas", "sklearn")


@contextlib.contextmanager
def _hidden(names: tuple[str, ...]) -> Iterator[None]:
    hide = [n for n in names if n not in sys.modules]
    for n in hide:
        sys.modules[n] = None  # type: ignore[assignment]  # `import n` raises ImportError
    try:
        yield
    finally:
        for n in hide:
            if sys.modules.get(n, 0) is None:
                del sys.modules[n]


_named = os.environ.get("KERAS_BACKEND", "")
with _hidden(NOT_FOR_A_RUN + (("jax",) if _named in ("tensorflow", "torch") else ())):
    import keras

from dlbench.errors import UserError  # noqa: E402
from dlbench.frameworks import entry  # noqa: E402
from dlbench.frameworks.base import DeviceInfo, DeviceUnavailable  # noqa: E402
from dlbench.measure.fingerprint import cpu_model  # noqa: E402

BACKEND = keras.backend.backend()  # tensorflow, jax or torch: fixed for this process
impl = importlib.import_module(f"dlbench.frameworks.keras.{BACKEND}")
FRAMEWORK: str = impl.FRAMEWORK


def devices() -> list[DeviceInfo]:
    """The CPU and every GPU this backend sees, or one row saying why it sees none."""
    found = [DeviceInfo(FRAMEWORK, "cpu", True, cpu_model())]
    gpus = impl.gpus()
    if gpus:
        found += [
            DeviceInfo(FRAMEWORK, f"cuda:{i}", True, name, mem)
            for i, (name, mem) in enumerate(gpus)
        ]
    else:
        found.append(DeviceInfo(FRAMEWORK, "cuda", False, reason=impl.no_gpu_reason()))
    return found


def keras_device(name: str) -> str:
    """dlbench's device name (cpu, cuda, cuda:N) as `keras.device` spells it; fails fast."""
    if name == "cpu":
        return "cpu"  # not "cpu:0": keras-torch then copies every weight off its leaf
    index = 0 if name == "cuda" else int(name.split(":", 1)[1])
    count = len(impl.gpus())
    if count == 0:
        raise DeviceUnavailable(f"device {name}: {impl.no_gpu_reason()}; use --device cpu")
    if index >= count:
        raise DeviceUnavailable(
            f"device {name}: {FRAMEWORK} sees {count} GPU(s); use cuda:0 to cuda:{count - 1}"
        )
    return f"gpu:{index}"


def versions() -> dict[str, str]:
    return {"keras": keras.__version__, "keras_backend": BACKEND, **impl.versions()}


def check_backend(framework: str) -> None:
    """The run's framework must be the backend Keras loaded: it cannot change after import."""
    want = entry(framework).env.get("KERAS_BACKEND")
    if want != BACKEND:
        raise UserError(
            f"{framework} needs Keras' {want} backend, but Keras in this process loaded "
            f"{BACKEND}: Keras reads KERAS_BACKEND once, at import; run it with `dlbench run`, "
            f"which starts each run in a process of its own with KERAS_BACKEND={want}"
        )


def device_details(name: str) -> dict[str, object]:
    """The device a run used, as this backend sees it: stored in the run's fingerprint."""
    where = keras_device(name)
    info: dict[str, object] = {"device": name, "keras_device": where, "keras_backend": BACKEND}
    if where.startswith("gpu"):
        gpu_name, memory = impl.gpus()[int(where.split(":")[1])]
        # The GPU's UUID comes from NVML in the worker (measure.fingerprint.run_context).
        info.update(gpu_name=gpu_name, gpu_memory_bytes=memory, **impl.gpu_software())
    return info
