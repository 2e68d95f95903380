"""The GEMM probe with JAX (XLA:CPU): float32 products on the CPU."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from dlbench.frameworks.base import pin_to_cpus
from dlbench.measure.probe import best_rate, operands


def start(threads: int | None) -> None:
    """Pin the process before JAX's first computation, which sizes XLA:CPU's thread pool."""
    pin_to_cpus(threads)


def flops_per_s(device: str, dtype: str, size: int, reps: int) -> float:
    """Best FLOP/s of float32 size x size products on the CPU (the probe times no other)."""
    a_np, b_np = operands(size)
    cpu = jax.devices("cpu")[0]
    a, b = jax.device_put(a_np, cpu), jax.device_put(b_np, cpu)
    mm = jax.jit(lambda x, y: jnp.matmul(x, y, precision=jax.lax.Precision.HIGHEST))
    return best_rate(lambda: mm(a, b), lambda out: out.block_until_ready(), size, reps)


def version() -> str:
    return f"jax {jax.__version__}"
