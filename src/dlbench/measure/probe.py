"""The GEMM probe: the practical peak FLOP/s of a device, measured, per machine.

"% of peak" needs a peak; a data-sheet number is not what this machine, with these threads,
can do. The probe times square matrix products of a few sizes in each compute dtype the device
offers (float32; bfloat16 on a CPU with bfloat16 instructions; TF32 and bfloat16 on a GPU),
best of several repetitions after a warm-up, and keeps the best size: the most a framework gets
out of the device on the friendliest work there is. Runs are then read against the peak of the
dtype they compute in (achieved FLOP/s / probe FLOP/s; spec/precision.py `compute_dtype`).

On a CPU every installed library is timed, each in its own process, and the best is the peak:
the libraries' products differ by 2x and more on the same CPU (on this project's AMD EPYC,
torch.mm, which calls Intel MKL, reached 227 GFLOP/s with 2 threads, while JAX's XLA and
TensorFlow's oneDNN reached 482), and a peak taken from the slowest would let "% of peak" pass
100%; per dtype the fastest library is kept. In bfloat16 they differ in kind: torch and
TensorFlow call oneDNN's bfloat16 kernels, while XLA:CPU (JAX) converts bfloat16 operands to
float32 and multiplies in float32, so its bfloat16 figure is its float32 one less the casts.
On a GPU the probe uses torch (cuBLAS, which the other frameworks call too).

This module imports no framework: it holds the plan, the timing loop and the records. Each
library's products are in frameworks/gemm/; runner/probe.py starts a process per library
(`python -m dlbench.runner.probe`), so the CLI never imports a framework.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dlbench.spec.precision import cpu_has_bf16

CPU_SIZES = (512, 1024, 2048)
GPU_SIZES = (2048, 4096, 8192)
CPU_DTYPES = ("float32", "bfloat16")  # bfloat16 where the CPU has its instructions
# library -> the framework whose run environment (threads) its process gets
CPU_LIBRARIES = {"torch": "torch", "jax": "keras-jax", "tensorflow": "keras-tf"}
GPU_DTYPES = ("float32", "tf32", "bfloat16")
REPS = 5


def plan(device: str) -> list[tuple[str, tuple[int, ...]]]:
    """(dtype, sizes) to measure on `device`."""
    if device == "cpu":
        return [(d, CPU_SIZES) for d in cpu_dtypes()]
    return [(d, GPU_SIZES) for d in GPU_DTYPES]


def cpu_dtypes() -> tuple[str, ...]:
    """The dtypes probed on this CPU: bfloat16 only where it has bfloat16 instructions, the
    CPUs bf16-mixed runs are not refused on (spec/precision.py)."""
    return CPU_DTYPES if cpu_has_bf16() else CPU_DTYPES[:1]


def operands(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 size x size matrices, the same on every call."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    return a, rng.standard_normal((size, size), dtype=np.float32)


def best_rate(
    product: Callable[[], Any], wait: Callable[[Any], None], size: int, reps: int
) -> float:
    """FLOP/s of the fastest of `reps` timed rounds of `product()`; `wait(out)` returns when
    the product `out` is computed. Each round runs enough products to last about 50 ms, so
    that the clock and one launch do not count."""
    wait(product())  # warm-up: library initialisation, kernel choice, compilation
    start = time.perf_counter()
    wait(product())
    one = time.perf_counter() - start
    inner = max(1, min(1000, int(0.05 / max(one, 1e-9))))
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(inner):
            out = product()
        wait(out)  # the products run in order: the last one done means all are
        best = min(best, (time.perf_counter() - start) / inner)
    return 2 * size**3 / best


def record(details: dict, dtype: str, by_size: dict[int, float], library: str) -> dict:
    """One dtype's record: the best size kept, every size's figure beside it."""
    best = max(by_size, key=by_size.__getitem__)
    return {
        "device": details["device"],
        "device_name": details.get("gpu_name"),
        "dtype": dtype,
        "flops_per_s": by_size[best],
        "size": best,
        "by_size": {str(k): v for k, v in by_size.items()},
        "threads": details["threads"],
        "library": library,
    }


def fastest(by_dtype: dict[str, list[dict]]) -> list[dict]:
    """Per dtype the fastest library's record, with every library's figure in `library`."""
    records = []
    for candidates in by_dtype.values():
        best = max(candidates, key=lambda r: r["flops_per_s"])
        if len(candidates) > 1:
            others = ", ".join(
                f"{r['library'].split()[0]} {r['flops_per_s'] / 1e9:.0f}" for r in candidates
            )
            best = {**best, "library": f"{best['library']} (GFLOP/s: {others})"}
        records.append(best)
    return records
