"""The GEMM probe with torch.mm: CPU (Intel MKL or oneDNN) and GPU (cuBLAS), every dtype."""

from __future__ import annotations

import torch

from dlbench.frameworks.torch.devices import torch_device
from dlbench.measure.probe import best_rate


def start(threads: int | None) -> None:
    """Nothing: the probe's process reads its thread count from the environment at import."""


def flops_per_s(device: str, dtype: str, size: int, reps: int) -> float:
    """Best FLOP/s of size x size products. `tf32` is float32 storage with TensorFloat-32
    products (GPUs only); `float32` turns TF32 off."""
    dev = torch_device(device)
    dt = {"float32": torch.float32, "tf32": torch.float32}.get(dtype) or getattr(torch, dtype)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    try:
        gen = torch.Generator(device=dev).manual_seed(0)
        a = torch.randn(size, size, device=dev, dtype=dt, generator=gen)
        b = torch.randn(size, size, device=dev, dtype=dt, generator=gen)
        out = torch.empty(size, size, device=dev, dtype=dt)

        def wait(_) -> None:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)

        return best_rate(lambda: torch.mm(a, b, out=out), wait, size, reps)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def version() -> str:
    return f"torch {torch.__version__}"
