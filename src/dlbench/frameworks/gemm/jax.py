"""The GEMM probe with JAX (XLA:CPU): float32 and bfloat16 products on the CPU.

XLA:CPU has no bfloat16 matrix product of its own: it compiles a bfloat16 `dot` as a
conversion of both operands to float32, a float32 product and a conversion of the result back
(the compiled HLO shows the three). The probe times that, as a bf16-mixed keras-jax run
computes it: its figure is below the float32 one, the casts' cost, and the machine's bfloat16
peak is another library's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from dlbench.frameworks.base import pin_to_cpus
from dlbench.measure.probe import best_rate, operands

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def start(threads: int | None) -> None:
    """Pin the process before JAX's first computation, which sizes XLA:CPU's thread pool."""
    pin_to_cpus(threads)


def flops_per_s(device: str, dtype: str, size: int, reps: int) -> float:
    """Best FLOP/s of size x size products on the CPU: float32 at full precision (no
    bfloat16 passes), bfloat16 as keras-jax multiplies it (jnp.matmul, a bfloat16 result)."""
    a_np, b_np = operands(size)
    cpu = jax.devices("cpu")[0]
    a = jax.device_put(a_np.astype(DTYPES[dtype]), cpu)
    b = jax.device_put(b_np.astype(DTYPES[dtype]), cpu)
    precision = jax.lax.Precision.HIGHEST if dtype == "float32" else None
    mm = jax.jit(lambda x, y: jnp.matmul(x, y, precision=precision))
    return best_rate(lambda: mm(a, b), lambda out: out.block_until_ready(), size, reps)


def version() -> str:
    return f"jax {jax.__version__}"
