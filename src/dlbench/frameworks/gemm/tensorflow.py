"""The GEMM probe with TensorFlow (oneDNN): float32 products on the CPU."""

from __future__ import annotations

import tensorflow as tf

from dlbench.measure.probe import best_rate, operands


def start(threads: int | None) -> None:
    """Nothing: the probe's process reads its thread count from the environment at import."""


def flops_per_s(device: str, dtype: str, size: int, reps: int) -> float:
    """Best FLOP/s of float32 size x size products on the CPU (the probe times no other)."""
    a_np, b_np = operands(size)
    with tf.device("/CPU:0"):
        a, b = tf.constant(a_np), tf.constant(b_np)
        # TensorFlow's eager CPU ops return when their result is computed: nothing to wait for
        return best_rate(lambda: tf.linalg.matmul(a, b), lambda out: None, size, reps)


def version() -> str:
    return f"tensorflow {tf.__version__}"
