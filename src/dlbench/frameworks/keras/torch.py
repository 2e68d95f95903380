"""keras-torch: what Keras on PyTorch does differently. tensorflow.py and jax.py hold the same
names; the trainer calls them without asking which backend it runs on."""

from __future__ import annotations

import os
from typing import Any

import torch

from dlbench.frameworks.torch.devices import no_cuda_reason
from dlbench.spec.layers import ModelSpec

FRAMEWORK = "keras-torch"


def gpus() -> list[tuple[str, int | None]]:
    """(name, memory bytes) per GPU."""
    if not torch.cuda.is_available():
        return []
    return [
        (torch.cuda.get_device_properties(i).name, torch.cuda.get_device_properties(i).total_memory)
        for i in range(torch.cuda.device_count())
    ]


def no_gpu_reason() -> str:
    return no_cuda_reason()


def versions() -> dict[str, str]:
    info = {"torch": torch.__version__}
    if torch.version.cuda:
        info["cuda"] = torch.version.cuda
    return info


def apply_threads(threads: int | None) -> dict[str, Any]:
    torch.set_num_threads(threads or os.cpu_count() or 1)
    return {"threads": torch.get_num_threads()}


def tuned_jit(spec: ModelSpec, where: str) -> tuple[bool, str] | None:
    """None: `tuned` is Keras' default here. jit_compile means torch.compile on keras-torch,
    and Keras refuses steps_per_execution > 1 on torch."""
    return None


def sync(variables: list, on_gpu: bool) -> None:
    if on_gpu:
        torch.cuda.synchronize()


def peak_device_bytes(index: int) -> int | None:
    return int(torch.cuda.max_memory_allocated(index))


def options() -> dict[str, Any]:
    """What this backend does that changes speed, beyond what every backend stores."""
    return {}
