"""The GEMM probe with TensorFlow (oneDNN): float32 and bfloat16 products on the CPU."""

from __future__ import annotations

import tensorflow as tf

from dlbench.measure.probe import best_rate, operands


def start(threads: int | None) -> None:
    """Nothing: the probe's process reads its thread count from the environment at import."""


def flops_per_s(device: str, dtype: str, size: int, reps: int) -> float:
    """Best FLOP/s of size x size products on the CPU, float32 or bfloat16 (oneDNN's
    bfloat16 kernels, a bfloat16 result: what a Dense layer under mixed_bfloat16 calls)."""
    a_np, b_np = operands(size)
    with tf.device("/CPU:0"):
        a = tf.cast(tf.constant(a_np), tf.as_dtype(dtype))
        b = tf.cast(tf.constant(b_np), tf.as_dtype(dtype))
        # TensorFlow's eager CPU ops return when their result is computed: nothing to wait for
        return best_rate(lambda: tf.linalg.matmul(a, b), lambda out: None, size, reps)


def version() -> str:
    return f"tensorflow {tf.__version__}"
