"""The estimate's framework-side probes: matrix products of a few shapes, and memory bandwidth.

Thin products (a batch of 32 through a 784-wide layer) reach a fraction of the square
2048^3 peak, so the estimate (measure/estimate.py) reads each layer's rate from a grid of
(M, K, N) shapes timed here, in the library its framework calls: torch (MKL, oneDNN, cuBLAS),
JAX (XLA) or TensorFlow (oneDNN). The bandwidth probe times a large copy with torch (a
multi-threaded copy on a CPU, a device copy on a GPU) at a few sizes, since small tensors stay
in cache. runner/calibrate.py runs these in a process of their own; the library is imported
lazily, here only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# M (rows: the batch, or batch x pixels for a conv), K (reduction), N (outputs)
GRID_M = (16, 128, 1024, 8192)
GRID_K = (16, 128, 1024)
GRID_N = (16, 128, 1024)
# Convolutions (3x3, padding 1, 28x28 images): in channels, filters, batch; keyed by their
# im2col product (batch*side*side, channels*9, filters), the shape spec/cost.py gives a conv layer
CONV_CHANNELS = (1, 16, 64)
CONV_FILTERS = (16, 64, 128)
CONV_BATCH = (4, 32, 256)
CONV_SIDE = 28  # Fashion-MNIST's side, most of the reports' images
BANDWIDTH_BYTES = (1 << 18, 1 << 22, 1 << 26, 1 << 28)  # 256 KiB (cache) .. 256 MiB (DRAM)
# Element-wise layers (ReLU, 2x2 max-pooling, batch-norm in training mode, dropout at 0.5, whose
# random mask can cost more than its bytes), forward and backward, on (batch, channels, 32, 32)
# float32 tensors of 2.5 to 64 MiB: their speed is the library's kernels', far from a plain
# copy's (docs/estimating.md, "Element-wise layers").
# No smaller size: there a call's dispatch, which the calibration's op_s holds, would count
# twice; a smaller layer reads the smallest size's rate.
LAYER_KINDS = ("activation", "maxpool", "batchnorm", "dropout")
DROPOUT = 0.5
LAYER_SIDE = 32  # height and width
# Two channel counts: one a whole number of vector registers (16 float32 in AVX-512), one not.
# The kernels differ by both: torch's channels-last batch-norm is several times slower at 10
# channels than at 16 (docs/estimating.md, "Element-wise layers", with the figures); the
# estimate reads the count of the layer's kind (measure/rates.py `probed_channels`).
LAYER_CHANNELS = (10, 16)
LAYER_BATCH = (64, 256, 1024)
# The memory layouts each library's layers run in: torch's default NCHW, and channels-last,
# which dlbench's torch `tuned` uses for a CNN; Keras' NHWC in JAX and TensorFlow.
LAYOUTS = {"torch": ("nchw", "nhwc"), "jax": ("nhwc",), "tensorflow": ("nhwc",)}
ROUND_S = 0.01  # each timed round lasts about this long, so the clock and a launch do not count
REPS = 3


def grid() -> list[tuple[int, int, int]]:
    return [(m, k, n) for m in GRID_M for k in GRID_K for n in GRID_N]


def best_seconds(step: Callable[[], Any], wait: Callable[[Any], None], reps: int = REPS) -> float:
    """Seconds of one `step()`: the fastest of `reps` rounds after a warm-up, each round long
    enough to last ROUND_S; `wait(out)` returns when `out` is computed."""
    wait(step())  # warm-up: library initialisation, kernel choice, compilation
    start = time.perf_counter()
    wait(step())
    one = time.perf_counter() - start
    inner = max(1, min(1000, int(ROUND_S / max(one, 1e-9))))
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(inner):
            out = step()
        wait(out)  # products run in order: the last one done means all are
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def _torch_product(device: str, m: int, k: int, n: int):
    import torch

    from dlbench.frameworks.torch.devices import torch_device

    dev = torch_device(device)
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 means IEEE float32
    gen = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(m, k, device=dev, generator=gen)
    b = torch.randn(k, n, device=dev, generator=gen)
    out = torch.empty(m, n, device=dev)

    def wait(_):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    return lambda: torch.mm(a, b, out=out), wait


def _jax_product(device: str, m: int, k: int, n: int):
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    dev = jax.devices("cpu" if device == "cpu" else "gpu")[0]
    a = jax.device_put(rng.standard_normal((m, k), dtype=np.float32), dev)
    b = jax.device_put(rng.standard_normal((k, n), dtype=np.float32), dev)
    mm = jax.jit(lambda x, y: jnp.matmul(x, y, precision=jax.lax.Precision.HIGHEST))
    return lambda: mm(a, b), lambda out: out.block_until_ready()


def _tf_product(device: str, m: int, k: int, n: int):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    with tf.device("/CPU:0" if device == "cpu" else "/GPU:0"):
        a = tf.constant(rng.standard_normal((m, k), dtype=np.float32))
        b = tf.constant(rng.standard_normal((k, n), dtype=np.float32))

    def step():
        with tf.device("/CPU:0" if device == "cpu" else "/GPU:0"):
            return tf.linalg.matmul(a, b)

    return step, lambda out: out.numpy() if device != "cpu" else None


PRODUCTS = {"torch": _torch_product, "jax": _jax_product, "tensorflow": _tf_product}


def gemm_rates(library: str, device: str, shapes=None) -> dict[str, float]:
    """FLOP/s of float32 products per shape, keyed "MxKxN"."""
    out = {}
    for m, k, n in shapes or grid():
        step, wait = PRODUCTS[library](device, m, k, n)
        out[f"{m}x{k}x{n}"] = 2 * m * k * n / best_seconds(step, wait)
    return out


def _torch_conv(device: str, b: int, c: int, f: int, backward: bool = False):
    import torch

    from dlbench.frameworks.torch.devices import torch_device

    dev = torch_device(device)
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(b, c, CONV_SIDE, CONV_SIDE, device=dev, generator=gen)
    w = torch.randn(f, c, 3, 3, device=dev, generator=gen)

    def wait(_):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    if not backward:
        return lambda: torch.nn.functional.conv2d(x, w, padding=1), wait
    inputs = [t.requires_grad_(True) for t in _grad_inputs(c, x, w)]
    g = torch.ones(b, f, CONV_SIDE, CONV_SIDE, device=dev)
    out = torch.nn.functional.conv2d(x, w, padding=1)  # once: the backward alone is timed
    return lambda: torch.autograd.grad(out, inputs, g, retain_graph=True), wait


def _jax_conv(device: str, b: int, c: int, f: int, backward: bool = False):
    import jax
    import numpy as np

    rng = np.random.default_rng(0)
    dev = jax.devices("cpu" if device == "cpu" else "gpu")[0]
    x = jax.device_put(rng.standard_normal((b, CONV_SIDE, CONV_SIDE, c), dtype=np.float32), dev)
    w = jax.device_put(rng.standard_normal((3, 3, c, f), dtype=np.float32), dev)

    def conv(x, w):
        return jax.lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=jax.lax.Precision.HIGHEST,
        )  # fmt: skip

    if not backward:
        fwd = jax.jit(conv)
        return lambda: fwd(x, w), lambda out: out.block_until_ready()
    g = jax.device_put(np.ones((b, CONV_SIDE, CONV_SIDE, f), dtype=np.float32), dev)
    # The backward alone: a convolution is linear, so its gradients do not need its output
    # and XLA leaves the forward out of the compiled pullback.
    if c == 1:  # a first layer: the weights' gradient only (_grad_inputs)
        grads = jax.jit(lambda x, w, g: jax.vjp(lambda w: conv(x, w), w)[1](g))
    else:
        grads = jax.jit(lambda x, w, g: jax.vjp(conv, x, w)[1](g))
    return lambda: grads(x, w, g), lambda out: out[-1].block_until_ready()


def _tf_conv(device: str, b: int, c: int, f: int, backward: bool = False):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    where = "/CPU:0" if device == "cpu" else "/GPU:0"
    with tf.device(where):
        x = tf.constant(rng.standard_normal((b, CONV_SIDE, CONV_SIDE, c), dtype=np.float32))
        w = tf.constant(rng.standard_normal((3, 3, c, f), dtype=np.float32))
        g = tf.ones((b, CONV_SIDE, CONV_SIDE, f))

    def step():
        with tf.device(where):
            return tf.nn.conv2d(x, w, 1, "SAME")

    if not backward:
        return step, lambda out: out.numpy() if device != "cpu" else None
    inputs = _grad_inputs(c, x, w)
    with tf.device(where), tf.GradientTape(persistent=True) as tape:  # the forward, once
        for t in inputs:
            tape.watch(t)
        out = tf.nn.conv2d(x, w, 1, "SAME")

    def grads():  # the backward alone, again and again from the kept tape
        with tf.device(where):
            return tape.gradient(out, inputs, output_gradients=g)

    return grads, (lambda out: None) if device == "cpu" else (lambda o: [t.numpy() for t in o])


def _grad_inputs(c: int, x, w) -> list:
    """What a backward pass differentiates: the weights, and the input unless it is a first
    layer's (one channel: the image), as spec/cost.py counts a conv layer's backward."""
    return [w] if c == 1 else [x, w]


CONVS = {"torch": _torch_conv, "jax": _jax_conv, "tensorflow": _tf_conv}


def conv_rates(library: str, device: str) -> dict[str, float]:
    """FLOP/s of float32 3x3 convolutions, keyed by their im2col "MxKxN": the forward pass,
    and under "bwd:MxKxN" the backward pass alone (its gradients' FLOPs, as spec/cost.py
    counts them, over its time). Libraries differ here: JAX's CPU backward of a 256-image
    batch took 5-6x its forward where the FLOPs say 3x (stop 26's note)."""
    from dlbench.measure.rates import BACKWARD

    out = {}
    for b in CONV_BATCH:
        for c in CONV_CHANNELS:
            for f in CONV_FILTERS:
                m, k = b * CONV_SIDE * CONV_SIDE, c * 9
                flops = 2 * m * k * f
                forward_s = best_seconds(*CONVS[library](device, b, c, f))
                backward_s = best_seconds(*CONVS[library](device, b, c, f, backward=True))
                out[f"{m}x{k}x{f}"] = flops / forward_s
                out[f"{BACKWARD}{m}x{k}x{f}"] = len(_grad_inputs(c, 0, 0)) * flops / backward_s
    return out


def _layer_spec(kind: str):
    from dlbench.spec.layers import Act, BatchNorm, Dropout, MaxPool, ModelSpec

    layer = {"activation": Act(fn="relu"), "maxpool": MaxPool(size=2), "batchnorm": BatchNorm(),
             "dropout": Dropout(rate=DROPOUT)}  # fmt: skip
    return ModelSpec(layers=(layer[kind],), name=f"probe-{kind}")


def layer_bytes(kind: str, batch: int, channels: int = 16) -> int:
    """The bytes spec/cost.py says one forward and backward pass of the layer moves: the key
    of the layers probe, and what the estimate divides by its rate."""
    from dlbench.spec.cost import layer_costs

    (cost,) = layer_costs(_layer_spec(kind), (channels, LAYER_SIDE, LAYER_SIDE), batch)
    return cost.forward_bytes + cost.backward_bytes


def layer_key(kind: str, layout: str, channels: int, nbytes: int) -> str:
    """The probe's key, "kind/layout/channels:bytes" (measure/rates.py parse_layer_key)."""
    return f"{kind}/{layout}/{channels}:{nbytes}"


def _torch_layer(device: str, kind: str, batch: int, channels: int = 16, layout: str = "nhwc"):
    import torch

    from dlbench.frameworks.torch.devices import torch_device

    dev = torch_device(device)
    gen = torch.Generator(device=dev).manual_seed(0)
    c, h, w = channels, LAYER_SIDE, LAYER_SIDE
    x = torch.randn(batch, c, h, w, device=dev, generator=gen)
    if layout == "nhwc":
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    weight = torch.ones(c, device=dev, requires_grad=True)
    bias = torch.zeros(c, device=dev, requires_grad=True)
    mean, var = torch.zeros(c, device=dev), torch.ones(c, device=dev)
    fn = {
        "activation": torch.relu,
        "maxpool": lambda t: torch.nn.functional.max_pool2d(t, 2),
        "batchnorm": lambda t: torch.nn.functional.batch_norm(
            t, mean, var, weight, bias, training=True
        ),
        "dropout": lambda t: torch.nn.functional.dropout(t, DROPOUT, training=True),
    }[kind]
    grad = torch.ones_like(fn(x))

    def step():
        out = fn(x)
        out.backward(grad)
        return out

    def wait(_):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    return step, wait


def _jax_layer(device: str, kind: str, batch: int, channels: int = 16, layout: str = "nhwc"):
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    dev = jax.devices("cpu" if device == "cpu" else "gpu")[0]
    c, h, w = channels, LAYER_SIDE, LAYER_SIDE
    x = jax.device_put(rng.standard_normal((batch, h, w, c), dtype=np.float32), dev)  # NHWC

    def batchnorm(t):
        mean = t.mean(axis=(0, 1, 2))
        var = t.var(axis=(0, 1, 2))
        return (t - mean) * jax.lax.rsqrt(var + 1e-3)

    def maxpool(t):
        return jax.lax.reduce_window(t, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def dropout(t):  # as Keras' JAX backend draws its mask
        keep = jax.random.bernoulli(jax.random.key(0), 1.0 - DROPOUT, t.shape)
        return jnp.where(keep, t / (1.0 - DROPOUT), 0.0)

    fn = {"activation": jax.nn.relu, "maxpool": maxpool, "batchnorm": batchnorm,
          "dropout": dropout}[kind]  # fmt: skip

    @jax.jit
    def step(t):
        out, back = jax.vjp(fn, t)
        return out, back(jnp.ones_like(out))[0]

    return lambda: step(x), lambda out: jax.block_until_ready(out)


def _tf_layer(device: str, kind: str, batch: int, channels: int = 16, layout: str = "nhwc"):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    where = "/CPU:0" if device == "cpu" else "/GPU:0"
    c, h, w = channels, LAYER_SIDE, LAYER_SIDE
    with tf.device(where):
        x = tf.constant(rng.standard_normal((batch, h, w, c), dtype=np.float32))  # NHWC
        scale, offset = tf.ones(c), tf.zeros(c)

    fn = {
        "activation": tf.nn.relu,
        "maxpool": lambda t: tf.nn.max_pool2d(t, 2, 2, "VALID"),
        "batchnorm": lambda t: tf.compat.v1.nn.fused_batch_norm(t, scale, offset)[0],
        # as Keras' TensorFlow backend draws its mask
        "dropout": lambda t: tf.nn.experimental.stateless_dropout(t, DROPOUT, seed=[0, 1]),
    }[kind]

    @tf.function  # a graph, as Keras' train step (no XLA: keras-tf's tuned CNNs run without)
    def step(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            out = fn(t)
        return out, tape.gradient(out, t)

    def run():
        with tf.device(where):
            return step(x)

    return run, lambda out: out[1].numpy() if device != "cpu" else None


LAYERS = {"torch": _torch_layer, "jax": _jax_layer, "tensorflow": _tf_layer}


def layer_rates(
    library: str, device: str, batches=LAYER_BATCH, channels=LAYER_CHANNELS
) -> dict[str, float]:
    """Bytes/s of element-wise layers, forward and backward, in each of the library's layouts
    and at each channel count, keyed by layer_key (the bytes spec/cost.py counts for the
    pass, see layer_bytes)."""
    out = {}
    for kind in LAYER_KINDS:
        for layout in LAYOUTS[library]:
            for c in channels:
                for batch in batches:
                    step, wait = LAYERS[library](device, kind, batch, c, layout)
                    nbytes = layer_bytes(kind, batch, c)
                    out[layer_key(kind, layout, c, nbytes)] = nbytes / best_seconds(step, wait)
    return out


def bandwidth(device: str, sizes=BANDWIDTH_BYTES) -> dict[str, float]:
    """Bytes/s of a copy (read + write) of `size` bytes, per size: numpy's single-threaded
    copy on a CPU (a multi-threaded copy of a small tensor times the thread pool's wake-up,
    which the calibration's per-op cost already holds), torch's on a GPU."""
    if device == "cpu":
        return _numpy_bandwidth(sizes)
    import torch

    from dlbench.frameworks.torch.devices import torch_device

    dev = torch_device(device)
    out = {}
    for size in sizes:
        src = torch.ones(size // 4, device=dev)
        dst = torch.empty_like(src)

        def wait(_, dev=dev):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)

        seconds = best_seconds(lambda src=src, dst=dst: dst.copy_(src), wait)
        out[str(size)] = 2 * size / seconds
    return out


def _numpy_bandwidth(sizes) -> dict[str, float]:
    import numpy as np

    out = {}
    for size in sizes:
        src = np.ones(size // 4, dtype=np.float32)
        dst = np.empty_like(src)
        seconds = best_seconds(lambda src=src, dst=dst: np.copyto(dst, src), lambda _: None)
        out[str(size)] = 2 * size / seconds
    return out
