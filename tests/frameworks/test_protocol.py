"""Both adapters implement the written interface (frameworks/base.py's `Adapter` and `Trainer`):
every member present, with a signature that accepts the interface's calls; and the Keras
backend modules hold the same names with the same parameters. Nothing trains.

Each adapter is checked in a process of its own, started as a run is (Keras reads its backend
once, at import): the child builds a Trainer on a few blank images and prints what is wrong.
The Keras adapter's code is the same on every backend (only keras/<backend>.py differs, which
the AST check compares), so one backend is enough.
"""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlbench.frameworks import missing_packages
from dlbench.frameworks.base import Adapter, Trainer

ROOT = Path(__file__).resolve().parents[2]
KERAS_DIR = ROOT / "src" / "dlbench" / "frameworks" / "keras"
KERAS_BACKENDS = ("tensorflow", "jax", "torch")


def _members(protocol: type) -> tuple[list[str], list[str]]:
    """(attributes, methods) a Protocol declares, `__init__` among the methods."""
    methods = [
        n
        for n, v in vars(protocol).items()
        if inspect.isfunction(v) and (not n.startswith("_") or n == "__init__")
    ]
    attributes = [n for n in protocol.__annotations__ if n not in methods]
    return attributes, methods


def _signature_problem(name: str, want: inspect.Signature, have: inspect.Signature) -> str:
    """Why a call written against `want` would fail on `have` ('' if it would not)."""
    have_params = dict(have.parameters)
    for p in want.parameters.values():
        got = have_params.pop(p.name, None)
        if got is None:
            return f"{name}: no parameter {p.name!r}"
        if got.kind != p.kind and not (
            p.kind is p.POSITIONAL_OR_KEYWORD and got.kind is got.POSITIONAL_OR_KEYWORD
        ):
            return f"{name}: {p.name!r} is {got.kind.description}, not {p.kind.description}"
        if p.default is not p.empty and got.default is got.empty:
            return f"{name}: {p.name!r} needs a default"
    extra = [p.name for p in have_params.values() if p.default is p.empty]
    return f"{name}: required parameters {extra} the interface never passes" if extra else ""


def problems(protocol: type, obj: object, drop_self: bool) -> list[str]:
    """What `obj` (an adapter module, a Trainer class or instance) lacks of `protocol`.
    `drop_self`: `obj`'s functions take no `self` (a module's)."""
    attributes, methods = _members(protocol)
    out = [f"no attribute {n}" for n in attributes if not hasattr(obj, n)]
    for name in methods:
        impl = getattr(type(obj) if name == "__init__" else obj, name, None)
        if not callable(impl):
            out.append(f"no method {name}")
            continue
        want = inspect.signature(getattr(protocol, name))
        if drop_self or not inspect.isfunction(impl) or name == "__init__":
            params = list(want.parameters.values())[1:]  # self: bound or absent on `obj`
            want = want.replace(parameters=params)
        have = inspect.signature(impl)
        if name == "__init__":
            have = have.replace(parameters=list(have.parameters.values())[1:])
        if problem := _signature_problem(name, want, have):
            out.append(problem)
    return out


CHECK = r"""
import json, sys
import numpy as np
from dlbench.frameworks import adapter
from dlbench.frameworks.base import Adapter, PreparedData, Trainer
from dlbench.spec import make_run
from tests.frameworks.test_protocol import problems

framework = sys.argv[1]
module = adapter(framework)
found = problems(Adapter, module, drop_self=True)
if not isinstance(getattr(module, "WEIGHTS_SUFFIX", None), str):
    found.append("WEIGHTS_SUFFIX is not a str")
if isinstance(getattr(module, "Trainer", None), type):
    x, y = np.zeros((4, 28, 28, 1), np.float32), np.arange(4) % 10
    data = PreparedData(x, y, x[:0], y[:0], x, y, 10, tuple(str(i) for i in range(10)))
    run = make_run({"model": "a-mlp", "framework": framework, "threads": 1})
    found += problems(Trainer, module.Trainer(run, data, "cpu"), drop_self=False)
print("PROTOCOL " + json.dumps(found))
"""


def _check_in_child(framework: str) -> list[str]:
    from dlbench.runner.process import child_env

    proc = subprocess.run(
        [sys.executable, "-c", CHECK, framework],
        cwd=ROOT,
        env=child_env(framework, 1),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROTOCOL ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("PROTOCOL "))


@pytest.mark.slow  # imports each framework in a child process
@pytest.mark.parametrize("framework", ["torch", "keras-jax"])
def test_adapter_implements_the_protocol(framework):
    if missing_packages(framework):
        pytest.skip(f"{framework} is not installed")
    assert _check_in_child(framework) == []


def test_the_checker_finds_what_is_missing():
    class Partial:
        WEIGHTS_SUFFIX = ".x"

        def devices(self):
            return []

        def versions(self, extra):
            return {}

    found = problems(Adapter, Partial(), drop_self=False)
    assert "no attribute Trainer" in found
    assert "no method device_details" in found
    assert any(p.startswith("versions: required parameters ['extra']") for p in found)

    class Lazy:
        def fit(self, on_epoch, on_step):  # no default for on_step
            pass

    found = problems(Trainer, Lazy(), drop_self=False)
    assert "fit: 'on_step' needs a default" in found and "no method evaluate" in found


def _public_signatures(path: Path) -> dict[str, str]:
    """Top-level public names of a module, each with its parameters (functions) or ''."""
    out = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            out[node.name] = ", ".join(a.arg for a in node.args.args)
        elif isinstance(node, ast.Assign):
            out |= {t.id: "" for t in node.targets if isinstance(t, ast.Name)}
    return out


def test_keras_backends_hold_the_same_names():
    by_backend = {b: _public_signatures(KERAS_DIR / f"{b}.py") for b in KERAS_BACKENDS}
    first = by_backend[KERAS_BACKENDS[0]]
    assert {"gpus", "sync", "apply_threads", "tuned_jit", "FRAMEWORK"} <= set(first)
    for backend, names in by_backend.items():
        assert names == first, backend
