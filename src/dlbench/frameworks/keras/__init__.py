"""Keras 3 adapter (`keras-tf`, `keras-jax`, `keras-torch`): the same model, trained with `fit`.

Keras reads its backend once, at import: runner/process.py sets `KERAS_BACKEND` in the run's own
process before anything imports Keras, and the Trainer refuses to run on any other backend.

- chosen.py: the backend of this process, picked once, and devices as it sees them;
- tensorflow.py, jax.py, torch.py: what differs between backends, the same names in each (as in
  keras/src/backend/<name>/): nothing else asks which backend it runs on;
- model.py: the network for a spec, weights in torch's layout, optimizer and loss;
- trainer.py: the Trainer (`fit`, `evaluate`, `predict`, weights, activations).
"""

from __future__ import annotations

from dlbench.frameworks.keras.chosen import (
    BACKEND,
    FRAMEWORK,
    check_backend,
    device_details,
    devices,
    keras_device,
    versions,
)
from dlbench.frameworks.keras.model import Built, build_model, make_optimizer
from dlbench.frameworks.keras.trainer import EVAL_BATCH, WEIGHTS_SUFFIX, Trainer

RUN_IMPORTS: tuple[str, ...] = ()  # Keras imports what its backend needs at its own import

__all__ = [
    "BACKEND",
    "EVAL_BATCH",
    "FRAMEWORK",
    "RUN_IMPORTS",
    "WEIGHTS_SUFFIX",
    "Built",
    "Trainer",
    "build_model",
    "check_backend",
    "device_details",
    "devices",
    "keras_device",
    "make_optimizer",
    "versions",
]
