"""keras-jax: what Keras on JAX does differently. tensorflow.py and torch.py hold the same names;
the trainer calls them without asking which backend it runs on."""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import jax
import jaxlib

from dlbench.frameworks.base import pin_to_cpus
from dlbench.spec.layers import ModelSpec

FRAMEWORK = "keras-jax"


def gpus() -> list[tuple[str, int | None]]:
    """(name, memory bytes or None) per GPU."""
    try:
        found = jax.devices("gpu")
    except RuntimeError:
        return []
    out = []
    for dev in found:
        stats = dev.memory_stats() or {}
        out.append((dev.device_kind, stats.get("bytes_limit")))
    return out


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


def tuned_jit(spec: ModelSpec, where: str) -> tuple[bool, str] | None:
    return True, "JAX always compiles with XLA"


def sync(variables: list, on_gpu: bool) -> None:
    """JAX dispatches asynchronously even on the CPU. Every output of a jitted step is ready
    together, so waiting for the weights waits for the last step."""
    # (Inside fit, Keras detaches the weights from the variables until the epoch ends.)
    values = [getattr(v, "_value", None) for v in variables]
    jax.block_until_ready([v for v in values if v is not None])


def peak_device_bytes(index: int) -> int | None:
    stats = jax.devices("gpu")[index].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return int(peak) if peak is not None else None


def options() -> dict[str, Any]:
    """What this backend does that changes speed, beyond what every backend stores."""
    return {}
