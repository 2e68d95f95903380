"""Precision as a run setting: the names, the dtype a run computes in, and what a device refuses.

`precision` is what the frameworks call mixed precision: `float32` (every op in float32),
`bf16-mixed` and `fp16-mixed` (matrix products and convolutions in bfloat16 or float16, the
weights, the optimizer, reductions, the output layer and the loss in float32). `tf32` is
NVIDIA's TensorFloat-32 for the float32 products that remain: `off` by default, so that
float32 means IEEE float32 in every framework (their own defaults differ: docs/fairness.md).

A run the device cannot compute is refused before anything runs (`refusal`), never run
silently in float32. Imports no framework: the checks read the device's name and, for a CPU,
its instruction-set flags.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

PRECISIONS = ("float32", "bf16-mixed", "fp16-mixed")
TF32 = ("off", "on")
# precision -> the dtype the products run in (the probe's dtype names)
COMPUTE_DTYPE = {"float32": "float32", "bf16-mixed": "bfloat16", "fp16-mixed": "float16"}
# CPU flags (Linux /proc/cpuinfo) that mean bfloat16 products in hardware: AVX512-BF16,
# AMX-BF16 (x86), BF16 (Armv8.6)
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def compute_dtype(precision: str, tf32: str, device: str) -> str:
    """The dtype a run's matrix products compute in: what its "% of peak" is read against."""
    if precision == "float32" and tf32 == "on" and device.startswith("cuda"):
        return "tf32"
    return COMPUTE_DTYPE[precision]


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags; empty where /proc/cpuinfo is not readable (not Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_bf16() -> bool:
    return bool(cpu_flags() & set(BF16_CPU_FLAGS))


def refusal(precision: str, tf32: str, device: str) -> str | None:
    """Why `device` cannot run this precision (a message naming the fix), or None.

    What only the run's process can tell (a GPU without bfloat16) is its to report: the run
    is stored as failed with the framework's reason."""
    if device != "cpu":
        return None
    if precision == "fp16-mixed":
        return (
            "--precision fp16-mixed needs a GPU: CPUs have no fast float16 products "
            "(use --precision bf16-mixed on a CPU, or --device cuda)"
        )
    if tf32 == "on":
        return "--tf32 on applies to NVIDIA GPUs only: on a CPU use --tf32 off (the default)"
    if precision == "bf16-mixed" and not cpu_has_bf16() and cpu_flags():
        return (
            "--precision bf16-mixed: this CPU has no bfloat16 instructions "
            f"({', '.join(BF16_CPU_FLAGS)}), so the products would be emulated; use float32"
        )
    return None
