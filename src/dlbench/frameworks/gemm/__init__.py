"""The GEMM probe's matrix products, one module per library, the same names in each:

- `start(threads)`: what the library needs before its first computation in the probe's process;
- `flops_per_s(device, dtype, size, reps) -> float`: best FLOP/s of size x size products;
- `version() -> str`: the library's name and version, as the probe record shows it.

runner/probe.py starts a process per library and calls these; measure/probe.py holds what
imports no framework (the plan, the timing loop, the records).
"""

from __future__ import annotations

import importlib
from types import ModuleType


def library(name: str) -> ModuleType:
    """The module timing `name`'s products (torch, jax, tensorflow); imports that library."""
    return importlib.import_module(f"dlbench.frameworks.gemm.{name}")
