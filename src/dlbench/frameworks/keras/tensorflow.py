"""keras-tf: what Keras on TensorFlow does differently. jax.py and torch.py hold the same names;
the trainer calls them without asking which backend it runs on."""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf

from dlbench.frameworks import REGISTRY
from dlbench.measure.fingerprint import gpu_memory_bytes
from dlbench.spec.layers import Conv2d, ModelSpec

FRAMEWORK = "keras-tf"


def gpus() -> list[tuple[str, int | None]]:
    """(name, memory bytes or None) per GPU, without starting TensorFlow's runtime."""
    out = []
    for dev in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(dev)
        out.append((details.get("device_name", dev.name), None))
    return [(name, gpu_memory_bytes(i)) for i, (name, _) in enumerate(out)]


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


# Why `tuned` cannot choose TensorFlow's threads by measurement in the run's process.
THREADS_FIXED: str | None = REGISTRY["keras-tf"].threads_fixed


def set_threads(count: int) -> None:
    raise RuntimeError(THREADS_FIXED)


def tuned_jit(spec: ModelSpec, where: str) -> tuple[bool, str] | None:
    """XLA for `tuned` unless the model convolves on a CPU, where XLA:CPU's convolutions are
    slower than TensorFlow's oneDNN kernels while MLPs gain (docs/performance.md, "What
    `tuned` changes")."""
    if where == "cpu" and any(isinstance(layer, Conv2d) for layer in spec.layers):
        return False, "XLA:CPU convolutions are slower than TensorFlow's oneDNN kernels"
    return True, "XLA"


def sync(variables: list, gpu_index: int | None) -> None:
    """Wait for the device; TensorFlow's eager CPU ops return when their result is computed."""
    if gpu_index is not None:
        tf.test.experimental.sync_devices()


def resident(arrays: tuple, gpu_index: int | None) -> tuple | None:
    """None: batches stay numpy slices, which tf.data moves to the device."""
    return None


def host_syncs_per_step(steps_per_execution: int, resident_batches: bool) -> float:
    """One per call of the train function: TensorFlow is not thread-safe for Keras, so Keras
    turns each call's logs into numbers at batch end on the main thread (a device sync)."""
    return 1.0 / steps_per_execution


def reset_peak(index: int) -> bool:
    tf.config.experimental.reset_memory_stats(f"GPU:{index}")
    return True


def gpu_software() -> dict[str, Any]:
    """The CUDA toolkit and cuDNN TensorFlow was built with."""
    build = tf.sysconfig.get_build_info()
    return {"cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version")}


def peak_device_bytes(index: int) -> int | None:
    return int(tf.config.experimental.get_memory_info(f"GPU:{index}")["peak"])


def options() -> dict[str, Any]:
    """What this backend does that changes speed, beyond what every backend stores."""
    return {"tf_onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")}


def set_tf32(on: bool) -> dict[str, Any]:
    """TensorFloat-32 for float32 products and convolutions (TensorFlow enables it by default on
    Ampere and later GPUs); off: IEEE float32, as in every framework (docs/fairness.md)."""
    tf.config.experimental.enable_tensor_float_32_execution(on)
    return {"tf32": tf.config.experimental.tensor_float_32_execution_enabled()}


def set_seed(seed: int) -> None:
    """The backend's own global seed (trainer.set_seed sets Python's, NumPy's and Keras')."""
    tf.random.set_seed(seed)
