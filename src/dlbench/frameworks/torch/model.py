"""The PyTorch network for a spec (up to its logits, layers named conv1, dense1, ...), its
initialisation, the optimizer, and the memory format `tuned` trains in."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from dlbench.frameworks import TORCH_CHANNELS_FIRST
from dlbench.frameworks.base import strip_output_activation
from dlbench.frameworks.initializers import sample, shared_weights
from dlbench.spec.layers import (
    Act,
    BatchNorm,
    Conv2d,
    Dense,
    Dropout,
    Flatten,
    MaxPool,
    ModelSpec,
    layer_names,
    summarize,
)
from dlbench.spec.run import RunSpec

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "elu": nn.ELU,
}


def build_module(spec: ModelSpec, input_shape: tuple[int, ...]) -> tuple[nn.Sequential, str]:
    """The network up to its logits (named conv1, dense1, ...) and its output activation."""
    layers, out_act = strip_output_activation(spec)
    logits_spec = spec.model_copy(update={"layers": tuple(layers)})
    summary = summarize(logits_spec, input_shape)
    shape = tuple(input_shape)
    modules: list[tuple[str, nn.Module]] = []
    for name, layer, info in zip(layer_names(logits_spec), layers, summary.layers, strict=True):
        act = None
        if isinstance(layer, Flatten):
            modules.append((name, nn.Flatten()))
        elif isinstance(layer, Dense):
            modules.append((name, nn.Linear(shape[0], layer.units, bias=layer.bias)))
            act = layer.activation
        elif isinstance(layer, Conv2d):
            conv = nn.Conv2d(
                shape[0],
                layer.filters,
                layer.kernel,
                layer.stride,
                layer.pad_pixels(),
                bias=layer.bias,
            )
            modules.append((name, conv))
            act = layer.activation
        elif isinstance(layer, MaxPool):
            modules.append((name, nn.MaxPool2d(layer.size, layer.stride or layer.size)))
        elif isinstance(layer, BatchNorm):
            bn = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            modules.append((name, bn(shape[0], eps=layer.eps, momentum=layer.momentum)))
        elif isinstance(layer, Dropout):
            modules.append((name, nn.Dropout(layer.rate)))
        elif isinstance(layer, Act):
            act = layer.fn
        if act and act != "linear":
            act_name = name if isinstance(layer, Act) else f"{name}_act"
            modules.append(
                (act_name, nn.Softmax(dim=1) if act == "softmax" else _ACTIVATIONS[act]())
            )
        shape = info.output_shape
    return nn.Sequential(OrderedDict(modules)), out_act


def init_weights(model: nn.Module, spec: ModelSpec, run: RunSpec, input_shape) -> None:
    """Apply the run's initialiser; `framework-default` leaves PyTorch's own."""
    if run.init == "framework-default":
        return
    if run.init == "shared":
        weights = shared_weights(spec, input_shape, run.effective_seed)
        with torch.no_grad():
            for name, arrays in weights.items():
                module = getattr(model, name)
                for key, value in arrays.items():
                    getattr(module, key).copy_(torch.from_numpy(value))
        return
    rng = np.random.default_rng([run.effective_seed, 0x1417])
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                module.weight.copy_(
                    torch.from_numpy(sample(run.init, tuple(module.weight.shape), rng))
                )
                if module.bias is not None:
                    module.bias.zero_()


def make_optimizer(run: RunSpec, params, fused: bool = False) -> torch.optim.Optimizer:
    """The same optimizer everywhere: see docs/fairness.md for each framework's mapping.

    `fused` (the `tuned` tuning): Adam and SGD update every tensor in one fused kernel instead
    of a loop of small ops per tensor; the same arithmetic, faster (docs/performance.md,
    "What `tuned` changes", has the figures)."""
    if run.optimizer == "adam":
        return torch.optim.Adam(
            params, lr=run.lr, betas=(0.9, 0.999), eps=run.eps, fused=fused or None
        )
    if run.optimizer == "sgd":
        return torch.optim.SGD(params, lr=run.lr, momentum=run.momentum, fused=fused or None)
    return torch.optim.Adadelta(params, lr=run.lr, rho=0.95, eps=run.eps)


def memory_format(spec: ModelSpec, tuning: str) -> torch.memory_format:
    """`tuned` trains convolutional models channels-last (NHWC), which oneDNN's CPU
    convolutions and pools (and cuDNN's) run faster; everything else keeps NCHW. The tunings
    that keep it are TORCH_CHANNELS_FIRST, which the estimate reads too."""
    has_conv = any(layer.type == "conv2d" for layer in spec.layers)
    if has_conv and tuning not in TORCH_CHANNELS_FIRST:
        return torch.channels_last
    return torch.contiguous_format


def apply_activation(activation: str, logits: torch.Tensor) -> torch.Tensor:
    if activation == "linear":
        return logits
    if activation == "softmax":
        return torch.softmax(logits, dim=1)
    return _ACTIVATIONS[activation]()(logits)
