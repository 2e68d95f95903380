"""Devices as PyTorch sees them: the list, a device name turned into a torch.device (or why it
cannot be), versions, and the details a run's fingerprint stores."""

from __future__ import annotations

import torch

from dlbench.frameworks.base import DeviceInfo, DeviceUnavailable
from dlbench.measure.fingerprint import cpu_model


def devices() -> list[DeviceInfo]:
    found = [DeviceInfo("torch", "cpu", True, cpu_model())]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            found.append(DeviceInfo("torch", f"cuda:{i}", True, props.name, props.total_memory))
    else:
        found.append(DeviceInfo("torch", "cuda", False, reason=no_cuda_reason()))
    return found


def no_cuda_reason() -> str:
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no GPU or driver"


def torch_device(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceUnavailable(f"device {name}: {no_cuda_reason()}; use --device cpu")
    dev = torch.device("cuda:0" if name == "cuda" else name)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceUnavailable(
            f"device {name}: torch sees {torch.cuda.device_count()} GPU(s); "
            f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )
    return dev


def versions() -> dict[str, str]:
    info = {"torch": torch.__version__}
    if torch.version.cuda:
        info["cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        info["cudnn"] = str(torch.backends.cudnn.version())
    return info


def device_details(name: str) -> dict[str, object]:
    """The device a run used, as torch sees it: stored in the run's fingerprint."""
    dev = torch_device(name)
    info: dict[str, object] = {"device": str(dev), "threads": torch.get_num_threads()}
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        uuid = getattr(props, "uuid", None)
        info.update(
            gpu_name=props.name,
            gpu_memory_bytes=int(props.total_memory),
            gpu_capability=f"{props.major}.{props.minor}",
            gpu_multiprocessors=props.multi_processor_count,
            gpu_uuid=str(uuid) if uuid else None,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_conv=torch.backends.cudnn.allow_tf32,
        )
    return info
