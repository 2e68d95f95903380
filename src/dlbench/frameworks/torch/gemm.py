"""The GEMM probe's PyTorch product: FLOP/s of one matrix size and dtype on one device."""

from __future__ import annotations

import math

import torch

from dlbench.frameworks.torch.devices import torch_device
from dlbench.measure.clock import SyncClock


def gemm_flops_per_s(device: str, dtype: str, size: int, reps: int = 5) -> float:
    """Best FLOP/s of a size x size matrix product over `reps` timed repetitions, after a
    warm-up; each repetition runs enough products to last about 50 ms, so that the clock's
    own cost and the launch of one kernel do not count. `tf32` is float32 storage with
    TensorFloat-32 products (GPUs only); `float32` turns TF32 off."""
    dev = torch_device(device)
    dt = {"float32": torch.float32, "tf32": torch.float32}.get(dtype) or getattr(torch, dtype)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    try:
        gen = torch.Generator(device=dev).manual_seed(0)
        a = torch.randn(size, size, device=dev, dtype=dt, generator=gen)
        b = torch.randn(size, size, device=dev, dtype=dt, generator=gen)
        out = torch.empty(size, size, device=dev, dtype=dt)
        clock = SyncClock(lambda: torch.cuda.synchronize(dev) if dev.type == "cuda" else None)
        torch.mm(a, b, out=out)  # warm-up: library initialisation, kernel choice
        _, one = clock.time(lambda: torch.mm(a, b, out=out))
        inner = max(1, min(1000, int(0.05 / max(one, 1e-9))))
        best = math.inf
        for _ in range(reps):
            start = clock.now()
            for _ in range(inner):
                torch.mm(a, b, out=out)
            best = min(best, (clock.now() - start) / inner)
        return 2 * size**3 / best
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
