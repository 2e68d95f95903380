"""PyTorch adapter (`torch`, and `torch-compile`, which compiles the model with torch.compile).

- devices.py: what torch sees, device names, versions, fingerprint details;
- model.py: the network for a spec, its initialisation, the optimizer, the memory format;
- trainer.py: the Trainer (`fit`, `evaluate`, `predict`, weights, activations);
- gemm.py: the GEMM probe's matrix product.
"""

from __future__ import annotations

from dlbench.frameworks.torch.devices import device_details, devices, torch_device, versions
from dlbench.frameworks.torch.gemm import gemm_flops_per_s
from dlbench.frameworks.torch.model import build_module, make_optimizer, memory_format
from dlbench.frameworks.torch.trainer import EVAL_BATCH, WEIGHTS_SUFFIX, Trainer

__all__ = [
    "EVAL_BATCH",
    "WEIGHTS_SUFFIX",
    "Trainer",
    "build_module",
    "device_details",
    "devices",
    "gemm_flops_per_s",
    "make_optimizer",
    "memory_format",
    "torch_device",
    "versions",
]
