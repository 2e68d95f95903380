"""Precision in Keras 3, on every backend: the global dtype policy, the output layer in float32,
loss scaling for float16, and TF32 set through the backend (`impl.set_tf32`).

`bf16-mixed`/`fp16-mixed` set Keras' global policy `mixed_bfloat16`/`mixed_float16` in the
run's process before the model is built: variables stay float32, each layer casts its inputs
and computes in the low dtype (batch-norm computes in float32 and casts its output). The output
layer, and whatever follows it, gets the `float32` policy, so the logits and the loss are
float32, as Keras' mixed-precision guide recommends. For float16, `model.compile` wraps the
optimizer in a `LossScaleOptimizer` (Keras' `auto_scale_loss`), which is recorded.
"""

from __future__ import annotations

from typing import Any

import keras

from dlbench.errors import UserError
from dlbench.frameworks.keras.chosen import impl
from dlbench.spec.precision import refusal
from dlbench.spec.run import RunSpec

POLICIES = {"float32": "float32", "bf16-mixed": "mixed_bfloat16", "fp16-mixed": "mixed_float16"}


def apply(run: RunSpec, device: str) -> dict[str, Any]:
    """Set the run's dtype policy and TF32 in this process, before the model is built; returns
    what goes into the run's options. Refuses what the device cannot compute."""
    why = refusal(run.precision, run.tf32, "cpu" if device == "cpu" else "cuda")
    if why:
        raise UserError(why)
    keras.config.set_dtype_policy(POLICIES[run.precision])
    return {
        "precision": run.precision,
        "dtype_policy": keras.config.dtype_policy().name,
        **impl.set_tf32(run.tf32 == "on"),
    }


def output_dtype() -> str | None:
    """The dtype policy the output layer is built with: float32 under a mixed policy (None:
    the global one, which is float32 already)."""
    return "float32" if keras.config.dtype_policy().name != "float32" else None


def recorded(model: keras.Model) -> dict[str, Any]:
    """After `compile`: the output layer's policy and whether the loss is scaled."""
    out = {"output_dtype_policy": model.layers[-1].dtype_policy.name}
    if keras.config.dtype_policy().name != "float32":
        scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        out["loss_scale"] = "dynamic (LossScaleOptimizer)" if scaled else "none"
    return out
