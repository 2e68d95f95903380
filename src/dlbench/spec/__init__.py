"""Specs: models as data, run specs, suites. Imports no framework."""

from dlbench.spec.builders import cnn, mlp
from dlbench.spec.layers import ModelSpec, ModelSummary, layer_names, summarize
from dlbench.spec.presets import PRESETS, Preset, get_preset
from dlbench.spec.run import FRAMEWORKS, RunSpec, make_run
from dlbench.spec.suite import Suite, builtin_suites, load_suite, suite_from_dict

__all__ = [
    "FRAMEWORKS",
    "PRESETS",
    "ModelSpec",
    "ModelSummary",
    "Preset",
    "RunSpec",
    "Suite",
    "builtin_suites",
    "cnn",
    "get_preset",
    "layer_names",
    "load_suite",
    "make_run",
    "mlp",
    "suite_from_dict",
    "summarize",
]
