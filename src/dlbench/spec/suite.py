"""Suites: YAML with `defaults` and a `matrix` over any run field, expanded in a stable order.

```yaml
name: report-b-fcn
description: Report B's FCN weight budgets.
defaults: {dataset: fashion-mnist, epochs: 20, batch_size: 512, val_fraction: 0.1}
matrix:
  model: [b-fcn-50k, b-fcn-100k, b-fcn-200k]
  device: [all]
```
The matrix is a product in the order its keys are written, the last key varying fastest.
`runs:` (optional) lists partial runs that differ in several fields at once (a model with its
own epochs and batch size); the matrix is then applied to each of them, in order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlbench.errors import UserError
from dlbench.spec.run import RunSpec, make_run

SUITE_KEYS = {"name", "description", "defaults", "runs", "matrix"}
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "suites"


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    defaults: dict[str, Any]
    matrix: dict[str, list[Any]]
    source: str  # file path or "command line"
    runs: tuple[dict[str, Any], ...] = ({},)

    def expand(self, overrides: dict[str, Any] | None = None, repeats: int = 1) -> list[RunSpec]:
        """Every run of the suite, overrides applied last, each repeated with seeds seed+i."""
        if repeats < 1:
            raise UserError(f"--repeats {repeats}: give 1 or more")
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        keys = [k for k in self.matrix if k not in overrides]
        runs: list[RunSpec] = []
        seen: set[str] = set()
        for base, values in itertools.product(
            self.runs, itertools.product(*(self.matrix[k] for k in keys))
        ):
            fields = {**self.defaults, **base, **dict(zip(keys, values, strict=True)), **overrides}
            for i in range(repeats):
                run = make_run({**fields, "repeat": i}, where=self.source)
                if run.run_id not in seen:  # a matrix may list one value twice
                    seen.add(run.run_id)
                    runs.append(run)
        return runs


def builtin_suites() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.yaml"))}


def load_suite(ref: str | Path) -> Suite:
    """A suite from a YAML path, or a built-in suite by name (`default`, `crossover`, ...)."""
    import yaml

    path = Path(ref)
    if not path.exists():
        builtin = builtin_suites().get(str(ref))
        if builtin is None:
            names = ", ".join(builtin_suites()) or "none"
            raise UserError(
                f"suite {str(ref)!r} is neither a file nor a built-in suite ({names}); "
                "check the path"
            )
        path = builtin
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not a text file (byte {exc.start} is not UTF-8); a suite is YAML text: "
            "check the path"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}: not valid YAML{where}; fix the syntax") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror}); check the path") from None
    return suite_from_dict(data, str(path))


def suite_from_dict(data: Any, source: str) -> Suite:
    if not isinstance(data, dict):
        raise UserError(f"{source}: a suite is a mapping with defaults: and matrix:")
    unknown = set(data) - SUITE_KEYS
    if unknown:
        raise UserError(
            f"{source}: unknown key {sorted(unknown)[0]!r} at the top level; "
            f"use {', '.join(sorted(SUITE_KEYS))}"
        )
    defaults = data.get("defaults") or {}
    matrix = data.get("matrix") or {}
    if not isinstance(defaults, dict) or not isinstance(matrix, dict):
        raise UserError(f"{source}: defaults and matrix must be mappings")
    for key, values in matrix.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"{source}: matrix.{key} must be a non-empty list")
    runs = data.get("runs") or [{}]
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise UserError(f"{source}: runs must be a list of mappings, e.g. - {{model: a-mlp}}")
    suite = Suite(
        name=str(data.get("name") or Path(source).stem),
        description=str(data.get("description") or ""),
        defaults=defaults,
        matrix=matrix,
        source=source,
        runs=tuple(runs),
    )
    suite.expand()  # validate every run now: bad keys fail before anything runs
    return suite
