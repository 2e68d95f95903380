"""PyTorch adapter (`torch`, and `torch-compile`, which compiles the model with torch.compile).

- devices.py: what torch sees, device names, versions, fingerprint details;
- model.py: the network for a spec, its initialisation, the optimizer, the memory format;
- trainer.py: the Trainer (`fit`, `evaluate`, `predict`, weights, activations).
"""

from __future__ import annotations

from dlbench.frameworks.torch.devices import device_details, devices, torch_device, versions
from dlbench.frameworks.torch.model import build_module, make_optimizer, memory_format
from dlbench.frameworks.torch.trainer import EVAL_BATCH, WEIGHTS_SUFFIX, Trainer

# torch.optim's Optimizer imports torch._dynamo the first time one is made (its methods are
# wrapped in torch._disable_dynamo): seconds of importing that build_s would otherwise count.
# The device probe, which makes no optimizer, does not pay it.
RUN_IMPORTS = ("torch._dynamo",)

__all__ = [
    "EVAL_BATCH",
    "RUN_IMPORTS",
    "WEIGHTS_SUFFIX",
    "Trainer",
    "build_module",
    "device_details",
    "devices",
    "make_optimizer",
    "memory_format",
    "torch_device",
    "versions",
]
