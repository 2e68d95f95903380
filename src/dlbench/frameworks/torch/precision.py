"""Precision in PyTorch: autocast around every layer but the output layer, a GradScaler for
float16, and the TF32 flags, set the same way for torch and keras-torch (docs/fairness.md).

`bf16-mixed`/`fp16-mixed`: `torch.autocast(device_type, dtype)` runs the hidden layers (their
products and convolutions in the low dtype, by autocast's op lists); the output layer and
whatever follows it run outside autocast on the hidden output cast back to float32, so the
logits and the loss are float32, as PyTorch's AMP recipe and Keras' mixed-precision guide both
recommend. Weights, gradients and the optimizer stay float32.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from dlbench.errors import UserError
from dlbench.spec.precision import refusal
from dlbench.spec.run import RunSpec

AUTOCAST_DTYPES = {"bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}


def set_tf32(on: bool) -> dict[str, Any]:
    """TF32 for float32 products and convolutions, on or off, in this process: what is recorded.

    PyTorch's own defaults differ between the two (matmul off, cuDNN convolutions on); off means
    IEEE float32 everywhere. The flags do nothing on a CPU, and are set there too."""
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    torch.set_float32_matmul_precision("high" if on else "highest")
    return {
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_conv": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


def check_device(run: RunSpec, device: torch.device) -> None:
    """Refuse what this device cannot compute (a UserError: the run is stored as failed with
    the reason), never run it silently in float32."""
    why = refusal(run.precision, run.tf32, device.type)
    if why:
        raise UserError(why)
    cuda_bf16 = run.precision == "bf16-mixed" and device.type == "cuda"
    if cuda_bf16 and not torch.cuda.is_bf16_supported(including_emulation=False):
        name = torch.cuda.get_device_name(device)
        raise UserError(
            f"--precision bf16-mixed: {name} has no bfloat16 products (NVIDIA Ampere and "
            "later have them); use fp16-mixed or float32"
        )


def output_start(net: nn.Sequential) -> int:
    """Index of the output layer (the last Linear or Conv2d) among the network's children."""
    children = list(net.children())
    weighted = [i for i, m in enumerate(children) if isinstance(m, (nn.Linear, nn.Conv2d))]
    return weighted[-1] if weighted else len(children)


class Mixed(nn.Module):
    """The network under autocast up to its output layer, which runs in float32. It holds the
    same modules: weights, saving and the optimizer still go through `net`."""

    def __init__(self, net: nn.Sequential, dtype: torch.dtype, device_type: str) -> None:
        super().__init__()
        self.net, self.dtype, self.device_type = net, dtype, device_type
        self.start = output_start(net)

    def layer_context(self, index: int) -> contextlib.AbstractContextManager:
        """Autocast for the child at `index` before the output layer, none from it on."""
        if index < self.start:
            return torch.autocast(self.device_type, dtype=self.dtype)
        return torch.autocast(self.device_type, enabled=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        children = list(self.net.children())
        with torch.autocast(self.device_type, dtype=self.dtype):
            for module in children[: self.start]:
                x = module(x)
        x = x.float()
        with torch.autocast(self.device_type, enabled=False):
            for module in children[self.start :]:
                x = module(x)
        return x


def for_run(
    run: RunSpec, net: nn.Sequential, device: torch.device
) -> tuple[nn.Module, torch.amp.GradScaler | None, dict[str, Any]]:
    """The module the run trains and evaluates through (`net` itself for float32), its
    GradScaler (float16 only) and what goes into the run's options."""
    check_device(run, device)
    options: dict[str, Any] = {"precision": run.precision, **set_tf32(run.tf32 == "on")}
    dtype = AUTOCAST_DTYPES.get(run.precision)
    if dtype is None:
        return net, None, options
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    options.update(
        autocast_dtype=str(dtype).removeprefix("torch."),
        autocast_device=device.type,
        output_layer_dtype="float32",
        grad_scaler=scaler is not None,
    )
    return Mixed(net, dtype, device.type), scaler, options
