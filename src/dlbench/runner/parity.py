"""The parity check: one model, the same weights and the same batches give the same losses in
every framework.

Each framework trains the first `steps` batches of a small slice of a dataset from `init:
shared` weights (made once in numpy), with plain SGD (momentum 0 and 0.9 by default), float32
and one CPU thread, and reports each batch's loss before its update; the losses are compared
with PyTorch's, step by step. Dropout is removed from the model first: its random masks are
drawn differently by every framework, so no two would agree. A one-output (binary) model gets
the labels modulo 2. Keras fixes its backend once per process, so every framework runs in a
process of its own, started with the runner's environment; this module is also that process
(`python -m dlbench.runner.parity`, a JSON job on stdin).

The losses come from each adapter's `step_losses`, which runs the same build, initialiser,
optimizer and train step as `fit` (Keras: `train_on_batch`, the train function `fit` calls).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dlbench.child import exit_now, received, send
from dlbench.errors import UserError, exception_line
from dlbench.frameworks import REGISTRY
from dlbench.spec.layers import BatchNorm, Dropout, ModelSpec, summarize
from dlbench.spec.run import RunSpec

REFERENCE = "torch"
# Every framework but the variants (torch-compile: on request), in the registry's order.
FRAMEWORKS = tuple(name for name, fw in REGISTRY.items() if not fw.variant)
DEFAULT_STEPS = 10
DEFAULT_LR = 0.01  # the losses move within ten steps; larger rates make batch-norm nets chaotic
DEFAULT_TOLERANCE = 1e-4  # largest relative difference from torch's loss, at any step
THREADS = 1  # numbers, not speed: one thread each, and the processes may run side by side
TIMEOUT_S = 600.0
MARKER = "DLBENCH-PARITY "  # the result line on stdout, whatever the framework prints


@dataclass(frozen=True)
class Case:
    """One model under one optimizer setting."""

    model: str
    optimizer: str
    momentum: float
    framework: str = ""  # precision mode: the framework whose two precisions are compared

    @property
    def label(self) -> str:
        label = f"{self.model}, {self.optimizer}"
        if self.optimizer == "sgd":
            label = f"{self.model}, sgd momentum {self.momentum:g}"
        return f"{label}, {self.framework}" if self.framework else label


@dataclass
class CaseResult:
    case: Case
    losses: dict[str, list[float]] = field(default_factory=dict)  # framework -> loss per step
    errors: dict[str, str] = field(default_factory=dict)  # framework -> why it has no losses
    reference: str = REFERENCE  # precision mode: float32, and the columns are precisions

    def rel_diffs(self, framework: str) -> list[float] | None:
        """|loss - torch's| / |torch's| per step; None when either has no losses."""
        ref, got = self.losses.get(self.reference), self.losses.get(framework)
        if ref is None or got is None:
            return None
        return [
            abs(a - b) / max(abs(b), 1e-12) if math.isfinite(a) else math.inf
            for a, b in zip(got, ref, strict=False)
        ]

    def max_rel_diff(self, framework: str) -> float | None:
        diffs = self.rel_diffs(framework)
        return max(diffs, default=0.0) if diffs is not None else None


@dataclass
class ParityReport:
    dataset: str
    steps: int
    lr: float
    batch_size: int
    tolerance: float
    frameworks: list[str]
    cases: list[CaseResult]
    notes: list[str]
    reference: str = REFERENCE  # precision mode: float32, and `frameworks` are the precisions
    precision: str = "float32"  # precision mode: the precision compared with float32

    def failures(self) -> list[str]:
        """One line per framework and case that is missing or outside the tolerance."""
        out = []
        for res in self.cases:
            for fw, why in res.errors.items():
                out.append(f"{res.case.label}: {fw} gave no losses: {why}")
            for fw in self.frameworks:
                diff = res.max_rel_diff(fw)
                if fw != self.reference and diff is not None and not diff <= self.tolerance:
                    out.append(
                        f"{res.case.label}: {fw} differs from {self.reference} by up to "
                        f"{diff:.2e} (tolerance {self.tolerance:.0e})"
                    )
        return out

    @property
    def ok(self) -> bool:
        return not self.failures()


def parity_model(spec: ModelSpec) -> tuple[ModelSpec, list[str]]:
    """The spec without its dropout layers, and a note when there were any."""
    kept = tuple(layer for layer in spec.layers if not isinstance(layer, Dropout))
    if len(kept) == len(spec.layers):
        return spec, []
    dropped = len(spec.layers) - len(kept)
    note = (
        f"{spec.name}: {dropped} dropout layer(s) removed for the check (random masks "
        "differ between frameworks); the other layers keep their names"
    )
    return spec.model_copy(update={"layers": kept}), [note]


def _spec_of(model: str | ModelSpec) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    return RunSpec(model=model).model_spec()


def parity_runs(
    model: str | ModelSpec,
    dataset: str,
    frameworks: Sequence[str],
    *,
    steps: int,
    optimizer: str,
    momentum: float,
    lr: float,
    batch_size: int,
    seed: int,
) -> list[RunSpec]:
    """The run specs of one case, one per framework: identical but for the framework."""
    spec, _ = parity_model(_spec_of(model))
    return [
        RunSpec(
            model=spec,
            dataset=dataset,
            framework=fw,
            device="cpu",
            epochs=1,
            batch_size=batch_size,
            optimizer=optimizer,
            lr=lr,
            momentum=momentum,
            init="shared",
            seed=seed,
            threads=THREADS,
            limit_train=steps * batch_size,
            limit_test=1,
            normalize="scale",
            tuning="default",
        )
        for fw in frameworks
    ]


def check_parity(
    models: Sequence[str | ModelSpec],
    dataset: str = "digits",
    frameworks: Sequence[str] | None = None,
    *,
    steps: int = DEFAULT_STEPS,
    optimizer: str = "sgd",
    momenta: Sequence[float] = (0.0, 0.9),
    lr: float = DEFAULT_LR,
    batch_size: int = 32,
    seed: int = 0,
    tolerance: float = DEFAULT_TOLERANCE,
    data_dir: Path | None = None,
    timeout_s: float = TIMEOUT_S,
) -> ParityReport:
    """Per-step losses of every model and setting in every framework, one process each."""
    from dlbench.frameworks import entry, missing_packages

    frameworks = _frameworks(frameworks, steps)
    if REFERENCE not in frameworks:
        frameworks.insert(0, REFERENCE)
        if missing_packages(REFERENCE):
            raise UserError(
                f"the parity check compares with {REFERENCE}, which is not "
                f"installed: {entry(REFERENCE).install}"
            )
    settings = dict(steps=steps, lr=lr, batch_size=batch_size, seed=seed)
    notes, cases = _cases(models, dataset, frameworks, optimizer, momenta, settings, data_dir)
    results = collect([run for _, runs in cases for run in runs], steps, data_dir, timeout_s)
    out = [
        _result(case, [(run.framework, run) for run in runs], results, REFERENCE)
        for case, runs in cases
    ]
    report = ParityReport(dataset, steps, lr, batch_size, tolerance, frameworks, out, notes)
    report.notes += _known_causes(report, cases)
    return report


def _frameworks(frameworks: Sequence[str] | None, steps: int) -> list[str]:
    """The frameworks asked for (default: every installed one but the variants), each known
    and installed; the steps checked."""
    from dlbench.frameworks import entry, installed, missing_packages

    if steps < 1:
        raise UserError(f"--steps {steps}: give at least one step")
    if frameworks is None:
        available = set(installed())
        frameworks = [fw for fw in FRAMEWORKS if fw in available]
    frameworks = list(dict.fromkeys(frameworks))
    for fw in frameworks:
        entry(fw)
        if missing_packages(fw):
            raise UserError(
                f"{fw} needs {', '.join(missing_packages(fw))}, which is not "
                f"installed: {entry(fw).install}"
            )
    return frameworks


def _cases(
    models: Sequence[str | ModelSpec],
    dataset: str,
    frameworks: list[str],
    optimizer: str,
    momenta: Sequence[float],
    settings: dict[str, Any],
    data_dir: Path | None,
) -> tuple[list[str], list[tuple[Case, list[RunSpec]]]]:
    """The notes, and per model and optimizer setting its case with one run per framework
    (`settings`: parity_runs' steps, lr, batch_size and seed)."""
    notes: list[str] = []
    cases: list[tuple[Case, list[RunSpec]]] = []
    for model in models:
        spec = _spec_of(model)
        notes += parity_model(spec)[1]
        if _output_units(spec, dataset, data_dir) == 1:
            notes.append(f"{spec.name}: one output unit: trained as binary on the labels modulo 2")
        name = model if isinstance(model, str) else spec.name
        for momentum in list(momenta) if optimizer == "sgd" else [0.0]:
            runs = parity_runs(
                model, dataset, frameworks, optimizer=optimizer, momentum=momentum, **settings
            )
            cases.append((Case(name, optimizer, momentum), runs))
    return notes, cases


def _result(
    case: Case, columns: list[tuple[str, RunSpec]], results: dict, reference: str
) -> CaseResult:
    """A case's losses (or errors) per column, from `collect`'s results of its runs."""
    res = CaseResult(case, reference=reference)
    for key, run in columns:
        value = results[run.run_id]
        if isinstance(value, str):
            res.errors[key] = value
        else:
            res.losses[key] = value
    return res


def _known_causes(report: ParityReport, cases: list[tuple[Case, list[RunSpec]]]) -> list[str]:
    """What docs/fairness.md knows about a difference the check found."""
    notes = []
    for res, (_, runs) in zip(report.cases, cases, strict=True):
        diff = res.max_rel_diff("keras-tf")
        has_bn = any(isinstance(x, BatchNorm) for x in runs[0].model_spec().layers)
        if has_bn and diff is not None and diff > report.tolerance:
            notes.append(
                f"{res.case.label}: keras-tf's batch-norm is tf.nn.batch_normalization, "
                "x*inv + (beta - mean*inv), whose float32 rounding differs from torch's "
                "(x - mean)*inv; training amplifies it step by step (docs/fairness.md)"
            )
    return notes


def _output_units(spec: ModelSpec, dataset: str, data_dir: Path | None) -> int:
    from dlbench.data import dataset_info

    shape = dataset_info(dataset, data_dir).input_shape
    return int(np.prod(summarize(spec, shape).output_shape))


def collect(
    runs: list[RunSpec], steps: int, data_dir: Path | None = None, timeout_s: float = TIMEOUT_S
) -> dict[str, list[float] | str]:
    """{run id: per-step losses, or why there are none}; one process per framework, side by
    side (each on one thread)."""
    by_framework: dict[str, list[RunSpec]] = {}
    for run in runs:
        by_framework.setdefault(run.framework, []).append(run)
    job = {"steps": steps, "data_dir": str(data_dir) if data_dir else None}
    results: dict[str, list[float] | str] = {}
    with ThreadPoolExecutor(max_workers=len(by_framework) or 1) as pool:
        futures = [
            pool.submit(
                _in_process,
                fw,
                {**job, "runs": [r.model_dump(mode="json") for r in fw_runs]},
                timeout_s,
            )
            for fw, fw_runs in by_framework.items()
        ]
        for (fw, fw_runs), future in zip(by_framework.items(), futures, strict=True):
            got = future.result()
            for run in fw_runs:
                results[run.run_id] = (
                    got
                    if isinstance(got, str)
                    else got.get(run.run_id, f"{fw}: no result for this run")
                )
    return results


def _in_process(framework: str, job: dict[str, Any], timeout_s: float) -> dict[str, Any] | str:
    from dlbench.runner.process import run_python

    stdout, error = run_python(["-m", "dlbench.runner.parity"], framework, THREADS, timeout_s, job)
    result = received(stdout, MARKER)
    return result if result is not None else f"process {error or 'wrote no result'}"


# -- precision mode ------------------------------------------------------------------------
# Largest relative difference of a mixed-precision loss from the float32 loss of the same
# framework, weights and batches, at any of the default 10 steps (docs/fairness.md says why):
# bfloat16 keeps 8 bits of mantissa (unit roundoff u = 2**-8 = 3.9e-3), float16 11 bits
# (u = 2**-11 = 4.9e-4). Each product rounds both operands, so a logit is off by about u and
# the loss by about u times its sensitivity to the logits; the errors of the layers and of the
# updates add up over the steps. 8u allows for that, and is still far from what a broken cast
# gives (a product in float16 overflowing to inf, or a loss computed in bfloat16: 1e-1 and more).
PRECISION_TOLERANCE = {"bf16-mixed": 8 * 2.0**-8, "fp16-mixed": 8 * 2.0**-11}


def check_precision(
    models: Sequence[str | ModelSpec],
    dataset: str = "digits",
    frameworks: Sequence[str] | None = None,
    *,
    precision: str = "bf16-mixed",
    steps: int = DEFAULT_STEPS,
    optimizer: str = "sgd",
    momenta: Sequence[float] = (0.0, 0.9),
    lr: float = DEFAULT_LR,
    batch_size: int = 32,
    seed: int = 0,
    tolerance: float | None = None,
    data_dir: Path | None = None,
    timeout_s: float = TIMEOUT_S,
) -> ParityReport:
    """Accuracy of a precision: in each framework, the per-step losses of `precision` against
    float32 from the same initial weights and batches (one case per model, setting and
    framework; the report's columns are the two precisions, float32 the reference)."""
    from dlbench.spec.precision import refusal

    if precision not in PRECISION_TOLERANCE:
        choices = ", ".join(PRECISION_TOLERANCE)
        raise UserError(f"--precision {precision!r}: the precision mode compares {choices}")
    why = refusal(precision, "off", "cpu")  # the check runs on the CPU
    if why:
        raise UserError(f"the parity check runs on the CPU: {why}")
    frameworks = _frameworks(frameworks, steps)
    settings = dict(steps=steps, lr=lr, batch_size=batch_size, seed=seed)
    notes, by_setting = _cases(models, dataset, frameworks, optimizer, momenta, settings, data_dir)
    # one case per framework: its float32 run and the same run in `precision`
    cases = [
        (
            replace(case, framework=run.framework),
            run,
            run.model_copy(update={"precision": precision}),
        )
        for case, runs in by_setting
        for run in runs
    ]
    results = collect([r for _, *pair in cases for r in pair], steps, data_dir, timeout_s)
    out = [
        _result(case, [("float32", run), (precision, mixed)], results, "float32")
        for case, run, mixed in cases
    ]
    tol = PRECISION_TOLERANCE[precision] if tolerance is None else tolerance
    columns = ["float32", precision]
    return ParityReport(
        dataset, steps, lr, batch_size, tol, columns, out, notes, "float32", precision
    )


# -- the process of one framework --------------------------------------------------------------
def _prepared(run: RunSpec, data_dir: str | None, cache: dict[str, Any]):
    from dlbench.data import load_dataset, prepare

    key = f"{run.dataset}:{run.limit_train}"
    if key not in cache:
        cache[key] = load_dataset(
            run.dataset,
            Path(data_dir) if data_dir else None,
            limit_train=run.limit_train,
            limit_test=run.limit_test,
        )
    data = prepare(cache[key], run.normalize)  # no validation set: every sample steps
    if summarize(run.model_spec(), data.input_shape).output_units == 1:
        # One sigmoid output: the parity of the class, a two-class problem.
        return replace(
            data,
            y_train=data.y_train % 2,
            y_val=data.y_val % 2,
            y_test=data.y_test % 2,
            num_classes=2,
            class_names=("even", "odd"),
        )
    return data


def step_losses(runs: list[RunSpec], steps: int, data_dir: str | None) -> dict[str, Any]:
    """In this process (one framework): {run id: per-step losses, or the error}."""
    from dlbench.frameworks import adapter

    cache: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for run in runs:
        try:
            backend = adapter(run.framework)
            trainer = backend.Trainer(run, _prepared(run, data_dir, cache), "cpu")
            out[run.run_id] = trainer.step_losses(steps)
        except UserError as exc:
            out[run.run_id] = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported with the other frameworks' results
            out[run.run_id] = exception_line(exc, 300)
    return out


def main() -> None:
    job = json.loads(sys.stdin.read())
    runs = [RunSpec.model_validate(r) for r in job["runs"]]
    send(step_losses(runs, job["steps"], job.get("data_dir")), MARKER)


if __name__ == "__main__":
    main()
    exit_now()
