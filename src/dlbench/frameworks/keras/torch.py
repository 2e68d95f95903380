"""keras-torch: what Keras on PyTorch does differently. tensorflow.py and jax.py hold the same
names; the trainer calls them without asking which backend it runs on."""

from __future__ import annotations

from typing import Any

import torch

from dlbench.frameworks import REGISTRY
from dlbench.frameworks.torch.devices import no_cuda_reason
from dlbench.frameworks.torch.devices import versions as torch_versions
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
    return torch_versions()


def apply_threads(threads: int | None) -> dict[str, Any]:
    """`threads` CPU threads (None: torch's own count); return what it uses."""
    if threads:
        torch.set_num_threads(threads)
    return {"threads": torch.get_num_threads()}


# None: torch can change its thread count at any time, so `tuned` sweeps it in warm-up.
THREADS_FIXED: str | None = REGISTRY["keras-torch"].threads_fixed  # None: swept


def set_threads(count: int) -> None:
    torch.set_num_threads(count)


def tuned_jit(spec: ModelSpec, where: str) -> tuple[bool, str] | None:
    """None: `tuned` is Keras' default here. jit_compile means torch.compile on keras-torch,
    and Keras refuses steps_per_execution > 1 on torch."""
    return None


def sync(variables: list, gpu_index: int | None) -> None:
    """Wait for the run's own GPU: a bare torch.cuda.synchronize() waits for cuda:0's."""
    if gpu_index is not None:
        torch.cuda.synchronize(gpu_index)


def resident(arrays: tuple, gpu_index: int | None) -> tuple | None:
    """The training arrays as torch tensors on the run's device, once (on the CPU they share
    numpy's memory): Keras on torch then takes each batch as a slice already in place, instead
    of copying it from pageable host memory every step (a copy the host waits for)."""
    dev = torch.device("cpu" if gpu_index is None else f"cuda:{gpu_index}")
    return tuple(torch.from_numpy(a).to(dev) for a in arrays)


def host_syncs_per_step(steps_per_execution: int, resident_batches: bool) -> float:
    """Where the host waits for the device in one step: each batch's copy of x and y from
    host memory, unless they are resident (Keras turns logs into numbers on a thread of its
    own on torch, which the step loop does not wait for)."""
    return 0.0 if resident_batches else 2.0


def reset_peak(index: int) -> bool:
    torch.cuda.reset_peak_memory_stats(index)
    return True


def gpu_software() -> dict[str, Any]:
    """The CUDA toolkit and cuDNN this backend's build uses (the driver's CUDA is NVML's)."""
    return {"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


def peak_device_bytes(index: int) -> int | None:
    return int(torch.cuda.max_memory_allocated(index))


def options() -> dict[str, Any]:
    """What this backend does that changes speed, beyond what every backend stores."""
    return {}


def set_tf32(on: bool) -> dict[str, Any]:
    """The same flags as the torch adapter sets (frameworks/torch/precision.py)."""
    from dlbench.frameworks.torch.precision import set_tf32 as torch_set_tf32

    return {"tf32": on, **torch_set_tf32(on)}


def set_seed(seed: int) -> None:
    """The backend's own global seed (trainer.set_seed sets Python's, NumPy's and Keras')."""
    torch.manual_seed(seed)
