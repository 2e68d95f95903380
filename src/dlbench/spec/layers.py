"""A model is data: a list of layers validated by pydantic, and what follows from it alone.

Shapes are channels-first `(C, H, W)` for images and `(N,)` after flatten, whatever the
framework's own layout; each adapter maps them. From the spec alone we compute output
shapes, parameter counts and multiply-adds, so `dlbench list models` and the report work with
no framework installed, and every framework can be checked against the same numbers.

Counting conventions (tests pin both against the reports and `torch.utils.flop_counter`):
- `params`: trainable parameters as PyTorch and Keras count them, batch-norm's scale and shift
  included (its running mean and variance are buffers, not parameters).
- `params_excl_bn`: weights and biases of dense and conv layers only, the convention of the
  reports' budget tables, which left batch-norm out.
- `macs`: multiply-adds per sample of dense and conv layers, weights only (what
  `torch.utils.flop_counter` counts, divided by two).
- `macs_torchinfo`: the same with one add per bias per output, as torchinfo reports them
  (report B's "mult-adds" column, quoted per batch of 512).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from dlbench.errors import UserError

Activation = Literal["linear", "relu", "sigmoid", "tanh", "softmax", "gelu", "elu"]
Shape = tuple[int, ...]


class _Layer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Flatten(_Layer):
    type: Literal["flatten"] = "flatten"


class Dense(_Layer):
    type: Literal["dense"] = "dense"
    units: PositiveInt  # output width
    activation: Activation = "linear"  # applied after the affine map
    bias: bool = True


class Conv2d(_Layer):
    type: Literal["conv2d"] = "conv2d"
    filters: PositiveInt  # output channels
    kernel: PositiveInt = 3  # square kernel size
    stride: PositiveInt = 1
    padding: int | Literal["same", "valid"] = 0  # pixels on each side; "same" needs stride 1
    activation: Activation = "linear"
    bias: bool = True

    @field_validator("padding")
    @classmethod
    def _padding_not_negative(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 0:
            raise ValueError("padding must be >= 0")
        return v

    def pad_pixels(self) -> int:
        if self.padding == "valid":
            return 0
        if self.padding == "same":
            if self.kernel % 2 == 0:
                raise UserError(
                    f"conv2d kernel {self.kernel} with padding 'same': use an odd kernel "
                    "or an explicit padding in pixels"
                )
            return self.kernel // 2
        return int(self.padding)


class MaxPool(_Layer):
    type: Literal["maxpool"] = "maxpool"
    size: PositiveInt = 2  # square window
    stride: PositiveInt | None = None  # defaults to the window size


class BatchNorm(_Layer):
    type: Literal["batchnorm"] = "batchnorm"
    momentum: float = Field(0.1, gt=0, lt=1)  # PyTorch's convention (Keras' 0.99 is 1 - 0.01)
    eps: float = Field(1e-5, gt=0)


class Dropout(_Layer):
    type: Literal["dropout"] = "dropout"
    rate: float = Field(ge=0, lt=1)


class Act(_Layer):
    type: Literal["activation"] = "activation"
    fn: Activation


Layer = Annotated[
    Flatten | Dense | Conv2d | MaxPool | BatchNorm | Dropout | Act,
    Field(discriminator="type"),
]


class ModelSpec(BaseModel):
    """A sequential network. The input shape comes from the dataset of each run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    layers: tuple[Layer, ...] = Field(min_length=1)
    name: str = "custom"  # a preset's name, or "custom"
    input_channels: PositiveInt | None = None  # checked against the dataset when set

    def output_activation(self) -> Activation:
        """The activation that produces the model's output (the last one that is not dropout)."""
        for layer in reversed(self.layers):
            if isinstance(layer, Act):
                return layer.fn
            if isinstance(layer, (Dense, Conv2d)):
                return layer.activation
        return "linear"

    def summary(self, input_shape: Shape) -> ModelSummary:
        return summarize(self, input_shape)


@dataclass(frozen=True)
class LayerInfo:
    name: str  # conv1, dense2, pool1, ...: the names feature maps and adapters use
    kind: str
    output_shape: Shape
    params: int
    params_excl_bn: int
    macs: int
    macs_torchinfo: int


@dataclass(frozen=True)
class ModelSummary:
    input_shape: Shape
    output_shape: Shape
    layers: tuple[LayerInfo, ...]

    @property
    def output_units(self) -> int:
        """How many numbers the model outputs per sample (its last layer's width)."""
        units = 1
        for s in self.output_shape:
            units *= s
        return units

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def params_excl_bn(self) -> int:
        return sum(layer.params_excl_bn for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def macs_torchinfo(self) -> int:
        return sum(layer.macs_torchinfo for layer in self.layers)


def _conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def layer_names(spec: ModelSpec) -> list[str]:
    """Stable per-kind names (conv1, conv2, dense1, ...) shared by every framework."""
    counts: dict[str, int] = {}
    names = []
    for layer in spec.layers:
        kind = {"conv2d": "conv", "maxpool": "pool", "batchnorm": "bn", "activation": "act"}.get(
            layer.type, layer.type
        )
        counts[kind] = counts.get(kind, 0) + 1
        names.append(f"{kind}{counts[kind]}")
    return names


def summarize(spec: ModelSpec, input_shape: Shape) -> ModelSummary:
    """Shapes, parameters and multiply-adds per sample, layer by layer; UserError if impossible."""
    shape: Shape = tuple(int(s) for s in input_shape)
    if not shape or any(s <= 0 for s in shape):
        raise UserError(f"input shape {shape} is not valid: every size must be positive")
    if spec.input_channels is not None and len(shape) == 3 and shape[0] != spec.input_channels:
        raise UserError(
            f"{spec.name} expects {spec.input_channels} input channel(s) but the data has "
            f"{shape[0]}: use a dataset with {spec.input_channels} channel(s) (folder datasets: "
            "?color=gray or ?color=rgb) or change the model's first conv_channels entry"
        )
    infos = []
    for name, layer in zip(layer_names(spec), spec.layers, strict=True):
        params = params_excl_bn = macs = macs_ti = 0
        where = f"{spec.name}: layer {name} ({layer.type}) on input {shape}"
        if isinstance(layer, Flatten):
            n = 1
            for s in shape:
                n *= s
            shape = (n,)
        elif isinstance(layer, Dense):
            if len(shape) != 1:
                raise UserError(f"{where}: dense needs a flat input; add a flatten layer before it")
            fan_in = shape[0]
            params = params_excl_bn = fan_in * layer.units + (layer.units if layer.bias else 0)
            macs = fan_in * layer.units
            macs_ti = params
            shape = (layer.units,)
        elif isinstance(layer, Conv2d):
            if len(shape) != 3:
                raise UserError(f"{where}: conv2d needs a (C, H, W) input; put it before flatten")
            c, h, w = shape
            pad = layer.pad_pixels()
            if layer.kernel > h + 2 * pad or layer.kernel > w + 2 * pad:
                raise UserError(
                    f"{where}: kernel {layer.kernel} is larger than the padded input "
                    f"{h + 2 * pad}x{w + 2 * pad}; use a smaller kernel, more padding, "
                    "or fewer pooling layers before it"
                )
            oh = _conv_out(h, layer.kernel, layer.stride, pad)
            ow = _conv_out(w, layer.kernel, layer.stride, pad)
            weights = c * layer.filters * layer.kernel * layer.kernel
            params = params_excl_bn = weights + (layer.filters if layer.bias else 0)
            macs = weights * oh * ow
            macs_ti = params * oh * ow
            shape = (layer.filters, oh, ow)
        elif isinstance(layer, MaxPool):
            if len(shape) != 3:
                raise UserError(f"{where}: maxpool needs a (C, H, W) input; put it before flatten")
            c, h, w = shape
            stride = layer.stride or layer.size
            if layer.size > h or layer.size > w:
                raise UserError(
                    f"{where}: pool window {layer.size} is larger than the input {h}x{w}; "
                    "remove a pooling layer or use a larger input"
                )
            shape = (c, (h - layer.size) // stride + 1, (w - layer.size) // stride + 1)
        elif isinstance(layer, BatchNorm):
            params = 2 * shape[0]  # scale and shift per channel (or per feature)
        infos.append(LayerInfo(name, layer.type, shape, params, params_excl_bn, macs, macs_ti))
    return ModelSummary(tuple(int(s) for s in input_shape), shape, tuple(infos))
