"""keras-jax: what Keras on JAX does differently. tensorflow.py and torch.py hold the same names;
the trainer calls them without asking which backend it runs on."""

from __future__ import annotations

import contextlib
from importlib.util import find_spec
from typing import Any

import jax
import jaxlib

from dlbench.frameworks import REGISTRY
from dlbench.frameworks.base import pin_to_cpus
from dlbench.measure.fingerprint import gpu_memory_bytes
from dlbench.spec.layers import ModelSpec

FRAMEWORK = "keras-jax"


def gpus() -> list[tuple[str, int | None]]:
    """(name, memory bytes or None) per GPU."""
    try:
        found = jax.devices("gpu")
    except RuntimeError:
        return []
    # The memory is the GPU's (NVML), not `bytes_limit`: that is the size of XLA's pool (75%
    # of the GPU when it preallocates), which would read as the GPU's memory.
    return [(dev.device_kind, gpu_memory_bytes(i)) for i, dev in enumerate(found)]


def no_gpu_reason() -> str:
    if not any(find_spec(p) for p in ("jax_cuda12_plugin", "jax_cuda13_plugin")):
        return f"jaxlib {jaxlib.__version__} is CPU-only (pip install 'jax[cuda12]' for a GPU)"
    return f"jaxlib {jaxlib.__version__} with its CUDA plugin finds no GPU or driver"


def versions() -> dict[str, str]:
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}


def apply_threads(threads: int | None) -> dict[str, Any]:
    """Pin the process before JAX's first computation, which sizes XLA:CPU's thread pool."""
    used = pin_to_cpus(threads)
    return {"threads": used, "xla_cpu_threads": used, "cpu_affinity": used}


# Why `tuned` cannot choose XLA:CPU's threads by measurement in the run's process.
THREADS_FIXED: str | None = REGISTRY["keras-jax"].threads_fixed


def set_threads(count: int) -> None:
    raise RuntimeError(THREADS_FIXED)


def tuned_jit(spec: ModelSpec, where: str) -> tuple[bool, str] | None:
    return True, "JAX always compiles with XLA"


def sync(variables: list, gpu_index: int | None) -> None:
    """JAX dispatches asynchronously even on the CPU. Every output of a jitted step is ready
    together, so waiting for the weights waits for the last step."""
    # (Inside fit, Keras detaches the weights from the variables until the epoch ends.)
    values = [getattr(v, "_value", None) for v in variables]
    jax.block_until_ready([v for v in values if v is not None])


def resident(arrays: tuple, gpu_index: int | None) -> tuple | None:
    """None: batches stay numpy slices (Keras puts each on the device without waiting)."""
    return None


def host_syncs_per_step(steps_per_execution: int, resident_batches: bool) -> float:
    """None in the step loop: JAX dispatches asynchronously, and Keras turns the logs into
    numbers on a thread of its own on JAX."""
    return 0.0


def reset_peak(index: int) -> bool:
    """False: JAX has no way to reset `peak_bytes_in_use`; the peak includes the warm-up."""
    return False


def gpu_software() -> dict[str, Any]:
    """The CUDA plugin and what its client reports (CUDA and cuDNN as the plugin loaded them)."""
    from importlib import metadata

    info: dict[str, Any] = {}
    for dist in ("jax-cuda12-plugin", "jax-cuda13-plugin"):
        try:
            info["jax_cuda_plugin"] = f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    # An older jax without it: the plugin's version says enough.
    with contextlib.suppress(Exception):
        info["platform_version"] = jax.devices("gpu")[0].client.platform_version
    return info


def peak_device_bytes(index: int) -> int | None:
    stats = jax.devices("gpu")[index].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return int(peak) if peak is not None else None


def options() -> dict[str, Any]:
    """What this backend does that changes speed, beyond what every backend stores."""
    return {}


def set_tf32(on: bool) -> dict[str, Any]:
    """JAX's default precision of float32 products and convolutions: on Ampere and later GPUs
    JAX's own default is not full float32 but TF32-like; off sets IEEE float32, as in every
    framework (docs/fairness.md). On a CPU both compute in float32."""
    jax.config.update("jax_default_matmul_precision", "tensorfloat32" if on else "float32")
    return {"tf32": on, "jax_default_matmul_precision": jax.config.jax_default_matmul_precision}


def set_seed(seed: int) -> None:
    """The backend's own global seed (trainer.set_seed sets Python's, NumPy's and Keras')."""
    # JAX has no global seed: Keras draws its keys from its own seed generator.
    del seed
