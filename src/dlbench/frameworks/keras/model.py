"""The Keras network for a spec (up to its logits), how canonical weights map onto it, and the
optimizer and loss for a run: the same on every Keras backend."""

from __future__ import annotations

import keras
import numpy as np

from dlbench.frameworks.base import Head, strip_output_activation
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
    Shape,
    layer_names,
    summarize,
)
from dlbench.spec.run import RunSpec


def _flatten_order(shape: Shape) -> np.ndarray | None:
    """Keras flattens (H, W, C) where PyTorch flattens (C, H, W): feature j of Keras' flat
    vector is feature order[j] of the canonical (channels-first) one."""
    if len(shape) != 3:
        return None
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


def _same_is_exact(layer: Conv2d) -> bool:
    # Keras' "same" pads (k-1)/2 on each side for stride 1 and odd k: PyTorch's padding k//2.
    return layer.stride == 1 and layer.kernel % 2 == 1 and layer.pad_pixels() == layer.kernel // 2


class Built:
    """A Keras network up to its logits, and how canonical weights map onto it."""

    def __init__(self, spec: ModelSpec, input_shape: Shape, *, overwritten: bool = False) -> None:
        # overwritten: `initialise` will replace every kernel. Keras then starts them at zero,
        # not with its Glorot draw: on JAX each draw is an XLA compilation (about 2 s of
        # build_s for report A's MLP, niced on a loaded 2-core machine), for numbers thrown away.
        self._kernel_init = "zeros" if overwritten else "glorot_uniform"
        layers, self.output_activation = strip_output_activation(spec)
        self.full_spec, self.input_shape = spec, tuple(input_shape)
        self.spec = spec.model_copy(update={"layers": tuple(layers)})
        summary = summarize(self.spec, input_shape)
        c, h, w = input_shape
        self.model = keras.Sequential(name=spec.name.replace(" ", "_") or "model")
        self.model.add(keras.Input((h, w, c)))
        # Per layer: its canonical input shape and, after a flatten, Keras' order of the flat
        # features it takes in and gives out (its weights and outputs are permuted by them).
        self.in_shape: dict[str, Shape] = {}
        self.in_order: dict[str, np.ndarray] = {}
        self.out_order: dict[str, np.ndarray] = {}
        shape: Shape = tuple(input_shape)
        order = None
        # Under a mixed dtype policy (frameworks/keras/precision.py) the output layer and what
        # follows it compute in float32: float32 logits and loss.
        weighted = [i for i, x in enumerate(layers) if isinstance(x, (Dense, Conv2d))]
        output_at = weighted[-1] if weighted else len(layers)
        mixed = keras.config.dtype_policy().name != "float32"
        for i, (name, layer, info) in enumerate(
            zip(layer_names(self.spec), layers, summary.layers, strict=True)
        ):
            self.in_shape[name] = shape
            if order is not None:
                self.in_order[name] = order
            made = self._layer(name, layer)
            if mixed and i >= output_at:
                made.dtype_policy = "float32"
            self.model.add(made)
            if isinstance(layer, Flatten):
                order = _flatten_order(shape)
            elif not isinstance(layer, (Dropout, Act, BatchNorm)):
                order = None
            if order is not None:
                self.out_order[name] = order
            shape = info.output_shape
        self.output_shape = shape

    def _layer(self, name: str, layer) -> keras.layers.Layer:
        if isinstance(layer, Flatten):
            return keras.layers.Flatten(name=name)
        if isinstance(layer, Dense):
            return keras.layers.Dense(
                layer.units,
                activation=layer.activation,
                use_bias=layer.bias,
                kernel_initializer=self._kernel_init,
                name=name,
            )
        if isinstance(layer, Conv2d):
            pad = layer.pad_pixels()
            if pad and not _same_is_exact(layer):
                # Explicit pixels: pad with zeros, then a "valid" convolution (PyTorch's padding).
                self.model.add(keras.layers.ZeroPadding2D(pad, name=f"{name}_pad"))
            return keras.layers.Conv2D(
                layer.filters,
                layer.kernel,
                strides=layer.stride,
                padding="same" if pad and _same_is_exact(layer) else "valid",
                activation=layer.activation,
                use_bias=layer.bias,
                kernel_initializer=self._kernel_init,
                name=name,
            )
        if isinstance(layer, MaxPool):
            return keras.layers.MaxPooling2D(
                layer.size, strides=layer.stride or layer.size, name=name
            )
        if isinstance(layer, BatchNorm):
            # PyTorch: running = (1 - m) * running + m * batch; Keras: the other way round.
            return keras.layers.BatchNormalization(
                axis=-1, momentum=1.0 - layer.momentum, epsilon=layer.eps, name=name
            )
        if isinstance(layer, Dropout):
            return keras.layers.Dropout(layer.rate, name=name)
        if isinstance(layer, Act):
            return keras.layers.Activation(layer.fn, name=name)
        raise TypeError(f"no Keras layer for {layer!r}")

    @property
    def trainable_params(self) -> int:
        return int(sum(np.prod(v.shape) for v in self.model.trainable_weights))

    def load_canonical(self, weights: dict[str, dict[str, np.ndarray]]) -> None:
        """Load weights in torch's layout ({name: {"weight", "bias"}}) into the Keras layers."""
        for name, arrays in weights.items():
            layer = self.model.get_layer(name)
            current = layer.get_weights()
            order = self.in_order.get(name)
            w, b = arrays["weight"], arrays.get("bias")
            if isinstance(layer, keras.layers.Dense):
                kernel = w.T  # (out, in) -> (in, out)
                new = [kernel[order] if order is not None else kernel]
            elif isinstance(layer, keras.layers.Conv2D):
                new = [w.transpose(2, 3, 1, 0)]  # (out, in, kh, kw) -> (kh, kw, in, out)
            else:  # batch-norm: scale and shift; the moving statistics keep their start values
                new = [w[order] if order is not None else w]
            if b is not None and len(current) > 1:
                new.append(
                    b[order]
                    if order is not None and isinstance(layer, keras.layers.BatchNormalization)
                    else b
                )
            layer.set_weights(new + current[len(new) :])

    def initialise(self, run: RunSpec) -> None:
        """Apply the run's initialiser; `framework-default` leaves Keras' own (Glorot-uniform
        kernels, zero biases). Named schemes draw the same numbers as frameworks/torch does."""
        if run.init == "framework-default":
            return
        if run.init == "shared":
            self.load_canonical(
                shared_weights(self.full_spec, self.input_shape, run.effective_seed)
            )
            return
        rng = np.random.default_rng([run.effective_seed, 0x1417])  # frameworks/torch's stream
        weights = {}
        for name, layer in zip(layer_names(self.spec), self.spec.layers, strict=True):
            shape = self.in_shape[name]
            if isinstance(layer, Dense):
                canon = (layer.units, shape[0])
            elif isinstance(layer, Conv2d):
                canon = (layer.filters, shape[0], layer.kernel, layer.kernel)
            else:
                continue
            bias = np.zeros(canon[0], np.float32) if layer.bias else None
            weights[name] = {"weight": sample(run.init, canon, rng), "bias": bias}
        self.load_canonical(weights)

    def to_canonical(self, name: str, out: np.ndarray) -> np.ndarray:
        """A layer's output in torch's layout: NCHW, and flat features in channels-first order."""
        if out.ndim == 4:
            return out.transpose(0, 3, 1, 2)
        order = self.out_order.get(name)
        if order is None:
            return out
        canon = np.empty_like(out)
        canon[:, order] = out
        return canon


def build_model(spec: ModelSpec, input_shape: Shape, *, overwritten: bool = False) -> Built:
    """The network; `overwritten`: the caller's `initialise` replaces every kernel (any init
    but `framework-default`), so Keras need not draw its own."""
    return Built(spec, input_shape, overwritten=overwritten)


# -- optimizer and loss ----------------------------------------------------------------------
def make_optimizer(run: RunSpec) -> keras.optimizers.Optimizer:
    """The same algorithm as frameworks/torch.make_optimizer; docs/fairness.md has each mapping.

    SGD: Keras keeps v = m*v - lr*g, p += v; PyTorch b = m*b + g, p -= lr*b: the same steps
    for a constant learning rate (v = -lr*b). Adam: Keras adds epsilon to sqrt(v) before the
    bias correction, PyTorch after it, so Keras' epsilon acts like PyTorch's divided by
    sqrt(1 - beta2^t): 32x larger at step 1, the same after a few thousand steps; no constant
    makes them equal, and early steps differ where gradients are tiny. Adadelta: the same.
    """
    if run.optimizer == "adam":
        return keras.optimizers.Adam(run.lr, beta_1=0.9, beta_2=0.999, epsilon=run.eps)
    if run.optimizer == "sgd":
        return keras.optimizers.SGD(run.lr, momentum=run.momentum)
    return keras.optimizers.Adadelta(run.lr, rho=0.95, epsilon=run.eps)


class _ProbabilityCrossEntropy(keras.losses.Loss):
    """Categorical cross-entropy on a non-softmax output (report E's sigmoid), from the logits:
    outputs normalised to sum to one, the true class's clipped to [1e-7, 1 - 1e-7], -log; the
    formula of Keras' JAX and torch backends and of frameworks/torch. Written out rather than
    calling Keras' loss, because Keras' TensorFlow backend finds the logits a sigmoid leaves on
    its output (`_keras_logits`) and computes a softmax cross-entropy of them instead, so the
    same Keras model would train differently on TensorFlow (docs/fairness.md)."""

    def __init__(self, activation: str) -> None:
        super().__init__(name="probability_crossentropy")
        self.activation = activation

    def call(self, y_true, y_pred):
        ops = keras.ops
        out = keras.activations.get(self.activation)(y_pred)
        p = out / ops.maximum(ops.sum(out, axis=-1, keepdims=True), 1e-7)
        y = ops.cast(ops.reshape(y_true, (-1, 1)), "int32")
        p_true = ops.take_along_axis(p, y, axis=-1)[:, 0]
        return -ops.log(ops.clip(p_true, 1e-7, 1.0 - 1e-7))


def make_loss(head: Head) -> tuple[keras.losses.Loss, keras.metrics.Metric]:
    if head.mode == "binary-logits":
        return (
            keras.losses.BinaryCrossentropy(from_logits=True),
            keras.metrics.BinaryAccuracy(name="acc", threshold=0.0),
        )  # logit > 0 <=> p > 0.5
    loss = (
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if head.mode == "softmax-logits"
        else _ProbabilityCrossEntropy(head.activation)
    )
    return loss, keras.metrics.SparseCategoricalAccuracy(name="acc")
