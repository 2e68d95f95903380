"""Initial weights made once in numpy, so that every framework can start from the same numbers.

`init: shared` loads these into whichever framework runs. The layout is canonical: dense
weights `(out, in)` with inputs in channels-first flatten order, conv weights `(out, in, k, k)`,
as PyTorch stores them; other adapters transpose (and Keras, which flattens channels last,
permutes the rows of the first dense layer after a flatten). Weights are Glorot-uniform (Keras'
default), biases zero, batch-norm scale one and shift zero.
"""

from __future__ import annotations

import numpy as np

from dlbench.spec.layers import BatchNorm, Conv2d, Dense, ModelSpec, Shape, layer_names, summarize


def _fan(shape: tuple[int, ...]) -> tuple[int, int]:
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def sample(scheme: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A weight array of `shape` (out, in, ...) drawn from a named scheme."""
    fan_in, fan_out = _fan(shape)
    if scheme == "xavier-uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(np.float32)
    if scheme == "xavier-normal":
        return (rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(np.float32)
    if scheme == "he-normal":
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    if scheme == "he-uniform":
        limit = np.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, shape).astype(np.float32)
    raise ValueError(f"no numpy sampler for {scheme}")


def shared_weights(
    spec: ModelSpec, input_shape: Shape, seed: int
) -> dict[str, dict[str, np.ndarray]]:
    """{layer name: {"weight": ..., "bias": ...}} for every layer with parameters."""
    rng = np.random.default_rng([seed, 0x5EED])
    summary = summarize(spec, input_shape)
    shape_in = tuple(input_shape)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, layer, info in zip(layer_names(spec), spec.layers, summary.layers, strict=True):
        if isinstance(layer, Dense):
            w = sample("xavier-uniform", (layer.units, shape_in[0]), rng)
            out[name] = {"weight": w, "bias": np.zeros(layer.units, np.float32)}
        elif isinstance(layer, Conv2d):
            shape = (layer.filters, shape_in[0], layer.kernel, layer.kernel)
            out[name] = {
                "weight": sample("xavier-uniform", shape, rng),
                "bias": np.zeros(layer.filters, np.float32),
            }
        elif isinstance(layer, BatchNorm):
            n = shape_in[0]
            out[name] = {"weight": np.ones(n, np.float32), "bias": np.zeros(n, np.float32)}
        shape_in = info.output_shape
    return out
