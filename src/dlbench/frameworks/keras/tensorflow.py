"""keras-tf: what Keras on TensorFlow does differently. jax.py and torch.py hold the same names;
the trainer calls them without asking which backend it runs on."""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf

from dlbench.spec.layers import Conv2d, ModelSpec

FRAMEWORK = "keras-tf"


def gpus() -> list[tuple[str, int | None]]:
    """(name, memory bytes or None) per GPU, without starting TensorFlow's runtime."""
    out = []
    for dev in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(dev)
        out.append((details.get("device_name", dev.name), None))
    return out


def no_gpu_reason() -> str:
    if not tf.test.is_built_with_cuda():
        return f"tensorflow {tf.__version__} is a CPU-only build (tensorflow-cpu)"
    return f"tensorflow {tf.__version__} (CUDA build) finds no GPU or driver"


def versions() -> dict[str, str]:
    return {"tensorflow": tf.__version__}


def apply_threads(threads: int | None) -> dict[str, Any]:
    """Limit TensorFlow's CPU threads to `threads` (None: every core); return what it uses."""
    cores = os.cpu_count() or 1
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        except RuntimeError:  # the runtime already started: the env of child_env applies
            pass
    # 0 means TensorFlow's default: one thread per core.
    intra = tf.config.threading.get_intra_op_parallelism_threads() or cores
    inter = tf.config.threading.get_inter_op_parallelism_threads() or cores
    return {"threads": intra, "tf_intra_op_threads": intra, "tf_inter_op_threads": inter}


def tuned_jit(spec: ModelSpec, where: str) -> tuple[bool, str] | None:
    """XLA for `tuned` unless the model convolves on a CPU, where XLA:CPU's convolutions were
    7x slower than TensorFlow's oneDNN kernels (a-torch-cnn, 2 cores) while an MLP gains 1.6x."""
    if where == "cpu" and any(isinstance(layer, Conv2d) for layer in spec.layers):
        return False, "XLA:CPU convolutions are slower than TensorFlow's oneDNN kernels"
    return True, "XLA"


def sync(variables: list, on_gpu: bool) -> None:
    """Wait for the device; TensorFlow's eager CPU ops return when their result is computed."""
    if on_gpu:
        tf.test.experimental.sync_devices()


def peak_device_bytes(index: int) -> int | None:
    return int(tf.config.experimental.get_memory_info(f"GPU:{index}")["peak"])


def options() -> dict[str, Any]:
    """What this backend does that changes speed, beyond what every backend stores."""
    return {"tf_onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")}
