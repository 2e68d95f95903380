"""Framework adapters, imported lazily: the only package that imports torch, keras, tf or jax.

The registry maps a framework name to its adapter module and the environment its process needs
before the framework is imported (Keras reads its backend once, at import).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from dlbench.errors import UserError

if TYPE_CHECKING:
    from dlbench.frameworks.base import Adapter


@dataclass(frozen=True)
class FrameworkEntry:
    name: str
    module: str  # adapter module under dlbench.frameworks
    requires: tuple[str, ...]  # importable packages it needs
    env: dict[str, str] = field(default_factory=dict)  # set before import, in the run's process
    install: str = ""  # how to get it
    variant: bool = False  # a variant of another framework: `all` leaves it out
    # Why `tuned` cannot choose the CPU threads by measurement in the run's process (None: it
    # sweeps them in warm-up, frameworks/threads.py); read by the adapter and by the estimate.
    threads_fixed: str | None = None
    # The tunings whose image tensors are channels-first (NCHW) in its kernels; the others run
    # channels-last. Read by the estimate, whose layer rates differ by layout.
    channels_first: tuple[str, ...] = ()


# torch's default loop keeps NCHW; its `tuned` turns a CNN channels-last
# (frameworks/torch/model.py `memory_format` reads this)
TORCH_CHANNELS_FIRST = ("default",)

REGISTRY: dict[str, FrameworkEntry] = {
    "torch": FrameworkEntry(
        "torch",
        "torch",
        ("torch",),
        install="pip install 'dlbench[torch]'",
        channels_first=TORCH_CHANNELS_FIRST,
    ),
    "torch-compile": FrameworkEntry(
        "torch-compile",
        "torch",
        ("torch",),
        install="pip install 'dlbench[torch]'",
        variant=True,
        threads_fixed="torch.compile's CPU kernels are specialised for one thread count",
        channels_first=TORCH_CHANNELS_FIRST,
    ),
    "keras-tf": FrameworkEntry(
        "keras-tf",
        "keras",
        ("keras", "tensorflow"),
        {"KERAS_BACKEND": "tensorflow"},
        "pip install 'dlbench[keras]'",
        threads_fixed="TensorFlow's thread pools are sized when its runtime starts",
    ),
    "keras-jax": FrameworkEntry(
        "keras-jax",
        "keras",
        ("keras", "jax"),
        {"KERAS_BACKEND": "jax"},
        "pip install 'dlbench[keras]'",
        threads_fixed="XLA:CPU sizes its thread pool from the CPU affinity when JAX starts",
    ),
    "keras-torch": FrameworkEntry(
        "keras-torch",
        "keras",
        ("keras", "torch"),
        {"KERAS_BACKEND": "torch"},
        "pip install 'dlbench[keras,torch]'",
        channels_first=("default", "tuned"),  # Keras' torch ops transpose to NCHW
    ),
}


def entry(name: str) -> FrameworkEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown framework {name!r}; choose from {', '.join(REGISTRY)}") from None


def missing_packages(name: str) -> list[str]:
    """Packages the framework needs that are not installed (found without importing them)."""
    from importlib.util import find_spec

    return [pkg for pkg in entry(name).requires if find_spec(pkg) is None]


def installed() -> list[str]:
    """Installed frameworks, variants (torch-compile) left out: what `--framework all` runs."""
    return [n for n, fw in REGISTRY.items() if not fw.variant and not missing_packages(n)]


def adapter(name: str) -> Adapter:
    """Import the adapter (and so the framework). Call only in a run's own process.
    It implements `frameworks.base.Adapter` (tests/frameworks/test_protocol.py checks)."""
    fw = entry(name)
    missing = missing_packages(name)
    if missing:
        raise UserError(f"{name} needs {', '.join(missing)}, which is not installed: {fw.install}")
    return cast("Adapter", importlib.import_module(f"dlbench.frameworks.{fw.module}"))
