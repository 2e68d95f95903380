"""What one training step costs, layer by layer, from the spec alone: FLOPs, bytes, GEMM shapes.

The estimate (measure/estimate.py, docs/estimating.md) times each layer as the larger of its
FLOPs over the rate this machine reaches on a product of that shape and its bytes over the
memory bandwidth. This module gives it the counts; it imports no framework.

Conventions, per batch of `b` samples, float32 (`DTYPE_BYTES` per number):
- The FLOPs of dense and conv layers are spec/layers.py's multiply-adds, 2 FLOPs each, the
  same counts as measure/work.py: forward one product, backward two (the gradient of the
  weights, and of the input, which the first layer with parameters skips).
- A dense layer is the product (M, K, N) = (b, fan_in, units); a conv layer is the same
  product after im2col: (b * out_h * out_w, in_channels * k * k, filters). The backward
  products are (K, M, N) (weights: the reduction runs over the batch) and (M, N, K) (input).
- Bytes are what each pass must read and write at least once: forward reads the input and the
  weights and writes the output; backward reads the output's gradient, the input and the
  weights and writes the input's gradient and the weights' gradient. An activation reads and
  writes its tensor forward and reads two, writes one backward. Max pooling reads its input
  and writes its output forward, and backward reads the output's gradient and writes the
  input's. Batch-norm reads its tensor twice (statistics, then normalising) and writes it once
  forward, and reads three and writes one backward. Dropout reads and writes its tensor and
  a mask. Element-wise FLOPs (activations, pooling comparisons, batch-norm) are counted too,
  one per element touched, but they never decide a layer's time: bytes do.
- The optimizer's update reads and writes each parameter and its state once a step: SGD reads
  the weight and its gradient and writes the weight (3 numbers; 5 with momentum), Adam and
  Adadelta also read and write two moments (7).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dlbench.spec.layers import ModelSpec, ModelSummary, Shape, summarize

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# numbers read and written per parameter by one optimizer step
OPTIMIZER_NUMBERS = {"sgd": 3, "sgd-momentum": 5, "adam": 7, "adadelta": 7}

Gemm = tuple[int, int, int]  # (M, K, N): an (M, K) by (K, N) product


@dataclass(frozen=True)
class LayerCost:
    """One layer's work for one batch, forward and backward."""

    name: str
    kind: str  # dense, conv2d, maxpool, batchnorm, dropout, activation, flatten
    forward_flops: int
    backward_flops: int
    forward_bytes: int
    backward_bytes: int
    forward_gemms: tuple[Gemm, ...] = ()  # products whose rate the GEMM probe gives
    backward_gemms: tuple[Gemm, ...] = ()
    ops: int = 1  # framework operations forward (a fused activation counts as one more)
    # of the bytes above, those of an activation fused into a dense or conv layer
    fused_forward_bytes: int = 0
    fused_backward_bytes: int = 0
    # the output's channels where it is an image (C, H, W), those its element-wise kernels run
    # over (a conv's fused activation, a pool's, a batch-norm's); 0 otherwise
    channels: int = 0


def _numel(shape: Shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def layer_costs(
    spec: ModelSpec, input_shape: Shape, batch: int, dtype: str = "float32"
) -> list[LayerCost]:
    """Per-layer costs of one training step on a batch of `batch` samples."""
    summary = summarize(spec, input_shape)
    return costs_of(spec, summary, batch, dtype)


def costs_of(
    spec: ModelSpec, summary: ModelSummary, batch: int, dtype: str = "float32"
) -> list[LayerCost]:
    size = DTYPE_BYTES[dtype]
    out: list[LayerCost] = []
    shape: Shape = summary.input_shape
    first_with_params = True
    for layer, info in zip(spec.layers, summary.layers, strict=True):
        n_in = _numel(shape) * batch
        n_out = _numel(info.output_shape) * batch
        act = getattr(layer, "activation", "linear")
        if info.kind in ("dense", "conv2d"):
            if info.kind == "dense":
                m, k, n = batch, shape[0], info.output_shape[0]
            else:
                _, oh, ow = info.output_shape
                m = batch * oh * ow
                k = shape[0] * layer.kernel * layer.kernel
                n = info.output_shape[0]
            weights = info.params
            fwd = ((m, k, n),)
            bwd = ((k, m, n),) if first_with_params else ((k, m, n), (m, n, k))
            f_flops = 2 * info.macs * batch  # = 2 * m * k * n, the count measure/work.py uses
            b_flops = f_flops * len(bwd)
            f_bytes = (n_in + weights + n_out) * size
            b_bytes = (n_out + n_in + weights + weights) * size
            if not first_with_params:
                b_bytes += n_in * size  # the input's gradient
            ops = 1
            fused_f = fused_b = 0
            if act != "linear":  # an activation fused into the layer: one more element-wise op
                f_flops += n_out
                b_flops += n_out
                fused_f, fused_b = 2 * n_out * size, 3 * n_out * size
                f_bytes += fused_f
                b_bytes += fused_b
                ops += 1
            out.append(
                LayerCost(
                    info.name, info.kind, f_flops, b_flops, f_bytes, b_bytes, fwd, bwd, ops,
                    fused_f, fused_b,
                )
            )  # fmt: skip
            first_with_params = False
        elif info.kind == "maxpool":
            window = layer.size * layer.size
            out.append(
                LayerCost(
                    info.name,
                    info.kind,
                    n_out * window,
                    n_in,
                    (n_in + n_out) * size,
                    (n_out + n_in) * size,
                )
            )
        elif info.kind == "batchnorm":
            out.append(
                LayerCost(
                    info.name, info.kind, 4 * n_in, 6 * n_in, 3 * n_in * size, 4 * n_in * size
                )
            )
        elif info.kind == "dropout":
            out.append(
                LayerCost(
                    info.name, info.kind, n_in, n_in, (2 * n_in + n_in) * size, 3 * n_in * size
                )
            )
        elif info.kind == "activation":
            out.append(
                LayerCost(info.name, info.kind, n_in, n_in, 2 * n_in * size, 3 * n_in * size)
            )
        else:  # flatten: a view, no data moves
            out.append(LayerCost(info.name, info.kind, 0, 0, 0, 0, ops=0))
        if len(info.output_shape) == 3:
            out[-1] = replace(out[-1], channels=info.output_shape[0])
        shape = info.output_shape
    return out


def optimizer_bytes(params: int, optimizer: str, momentum: float = 0.0, dtype: str = "float32"):
    """Bytes one optimizer step reads and writes."""
    key = "sgd-momentum" if optimizer == "sgd" and momentum else optimizer
    return OPTIMIZER_NUMBERS[key] * params * DTYPE_BYTES[dtype]
