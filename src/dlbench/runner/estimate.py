"""Predictions for a list of runs: the probes each run needs, found in the store, fed to the model.

measure/estimate.py is the model; this module picks, for each run, the latest probes of this
machine for its device, framework and tuning (never a stored run: the runs table is not read),
says which are missing and how to get them, and works out the data sizes a run will see
without loading its dataset. `dlbench estimate`, `dlbench run` and benchmarks/estimate.py use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlbench.errors import UserError
from dlbench.measure.estimate import (
    LIBRARY,
    Machine,
    Prediction,
    ThreadSweep,
    net_calibration,
    predict,
    stale_reason,
)
from dlbench.measure.rates import split_conv_rates
from dlbench.spec.run import RunSpec


class MissingProbes(UserError):
    """The estimate needs probes this database does not hold."""

    def __init__(self, missing: list[str], device: str, frameworks: list[str]) -> None:
        self.missing, self.device, self.frameworks = missing, device, frameworks
        super().__init__(
            f"the estimate needs probes this database lacks ({'; '.join(missing)}): run "
            f"`dlbench probe --calibrate --device {device} --framework {','.join(frameworks)}` "
            "first (seconds per framework)"
        )


@dataclass(frozen=True)
class Sizes:
    n_train: int  # trained on, after the validation split
    n_val: int
    n_test: int
    load_bytes: int  # what the worker reads and normalises (the whole file for built-ins)
    input_shape: tuple[int, int, int]


def sizes(run: RunSpec, data_dir: Path | None = None) -> Sizes:
    """Sample counts and input shape from the dataset's metadata (a folder is read)."""
    from dlbench.data import dataset_info, load_dataset, synthetic
    from dlbench.data.catalog import BUILTINS

    info = dataset_info(run.dataset, data_dir)
    name = run.dataset.strip()
    if name.startswith("synthetic:"):
        spec = synthetic.parse(name)
        n_train, n_test = spec.n_train, spec.n_test
    elif info.name in BUILTINS:
        b = BUILTINS[info.name]
        n_train, n_test = b.n_train, b.n_test
    else:
        ds = load_dataset(name, data_dir)
        n_train, n_test = len(ds.x_train), len(ds.x_test)
    per_sample = info.input_shape[0] * info.input_shape[1] * info.input_shape[2]
    load_bytes = (n_train + n_test) * per_sample
    n_train = min(n_train, run.limit_train) if run.limit_train is not None else n_train
    n_test = min(n_test, run.limit_test) if run.limit_test is not None else n_test
    n_val = int(n_train * run.val_fraction + 0.5)
    if run.val_fraction > 0 and n_train >= 2:
        n_val = min(max(n_val, 1), n_train - 1)  # as data.split_validation does
    return Sizes(n_train - n_val, n_val, n_test, load_bytes, info.input_shape)


def _device_kind(device: str) -> str:
    return "cpu" if device == "cpu" else "gpu"


def _same_device(probe: dict[str, Any], device: str) -> bool:
    from dlbench.store.db import device_key

    return device_key(probe["device"]) == device_key(device)


class ProbeSet:
    """The estimate's probes of this machine in one store, latest first."""

    def __init__(self, probes: list[dict[str, Any]]) -> None:
        import platform

        from dlbench.measure.fingerprint import cpu_model

        # the fingerprint's hostname and CPU, without its other parts (libraries, git, NVML)
        host, cpu = platform.node(), cpu_model()
        self.probes = [p for p in reversed(probes) if p["hostname"] == host and p["cpu"] == cpu]

    def find(self, kind: str, device: str, threads: int | None = None, **match: Any):
        found = [
            p
            for p in self.probes
            if p["kind"] == kind
            and (kind == "load" or _same_device(p, device))
            and all(p.get(k) == v for k, v in match.items())
        ]
        same_threads = [p for p in found if p["threads"] == threads]
        return (same_threads or found or [None])[0]

    def needed(self, run: RunSpec) -> dict[str, dict[str, Any] | None]:
        """Each probe the run's prediction uses, by what it is (None: missing)."""
        lib = LIBRARY.get(run.framework, "torch") if run.device == "cpu" else "torch"
        key = run.framework
        return {
            f"gemm-shapes {lib} on {run.device}": self.find(
                "gemm-shapes", run.device, run.threads, library=lib
            ),
            f"bandwidth on {run.device}": self.find("bandwidth", run.device, run.threads),
            f"calibration {key}/{run.tuning} on {run.device}": self.find(
                "calibration", run.device, run.threads, framework=key, tuning=run.tuning
            ),
            "load": self.find("load", "cpu"),
        }


def _scaled(by: dict[str, float], to: float) -> dict[str, float]:
    top = max(by.values())
    return {k: v * to / top for k, v in by.items()}


def machine_for(run: RunSpec, probes: ProbeSet, profile: str | None = None) -> Machine:
    """The Machine the model predicts `run` on; MissingProbes names what to measure first."""
    from dlbench.frameworks import entry

    measured_on = run.device
    prof = None
    if profile:
        from dlbench.measure.profiles import profile as get_profile

        prof = get_profile(profile)
        # The efficiency curves come from this machine's device of the same kind when there
        # is one (a GPU's from a GPU here), else from the CPU.
        measured_on = run.device if prof.kind == "gpu" and run.device != "cpu" else "cpu"
    probe_run = run.model_copy(update={"device": measured_on})
    needed = probes.needed(probe_run)
    missing = [what for what, p in needed.items() if p is None]
    if missing:
        raise MissingProbes(missing, measured_on, [run.framework])
    shapes, bw, cal, load = needed.values()
    # optional (older databases lack it): convolutions then run at their product's rate
    conv = probes.find("conv-shapes", measured_on, run.threads, library=shapes["library"])
    conv_by_shape = conv["by_size"] if conv else None  # forward, and "bwd:" keys: backward
    # optional too: element-wise layers then move bytes at the copy's bandwidth
    layers = probes.find("layer-rates", measured_on, run.threads, library=shapes["library"])
    layer_by_size = layers["by_size"] if layers else None
    gemm_by_shape, bw_by_size = shapes["by_size"], bw["by_size"]
    if prof:
        gemm_by_shape = _scaled(gemm_by_shape, prof.peak_flops_per_s["float32"])
        if conv_by_shape:
            conv_by_shape = _scaled(conv_by_shape, prof.peak_flops_per_s["float32"])
        # a spec sheet's device: its kernels' bytes/s relative to its bandwidth as here
        top = max(bw_by_size.values())
        if layer_by_size:
            layer_by_size = {
                k: v * prof.bandwidth_bytes_per_s / top for k, v in layer_by_size.items()
            }
        bw_by_size = _scaled(bw_by_size, prof.bandwidth_bytes_per_s)
    used = tuple(
        {"id": p["id"], "kind": p["kind"], "stale": stale_reason(p)}
        for p in (*needed.values(), conv, layers)
        if p
    )
    conv_backward = None
    if conv_by_shape:
        conv_by_shape, conv_backward = split_conv_rates(conv_by_shape)
        conv_backward = conv_backward or None  # an older probe: the forward's rate
    return Machine(
        gemm_by_shape=gemm_by_shape,
        bandwidth_by_size=bw_by_size,
        # net of the tiny models' modelled work on the machine it was measured on
        calibration=net_calibration(
            cal["detail"], shapes["by_size"], bw["by_size"], layers["by_size"] if layers else None
        ),
        load_bytes_per_s=load["bytes_per_s"],
        probes=used,
        profile=prof.name if prof else None,
        conv_by_shape=conv_by_shape,
        conv_backward_by_shape=conv_backward,
        layer_by_size=layer_by_size,
        layout="nchw" if run.tuning in entry(run.framework).channels_first else "nhwc",
    )


def thread_sweep(run: RunSpec) -> ThreadSweep | None:
    """The thread sweep the run's warm-up will do on this machine (frameworks/threads.py), or
    None: forced threads, `default` tuning, a GPU, or a framework that cannot change them."""
    from dlbench.frameworks import entry, threads

    how = threads.plan(
        run.threads, run.tuning, run.device == "cpu", entry(run.framework).threads_fixed
    )
    if how != threads.SWEPT:
        return None
    counts = tuple(threads.candidates(threads.usable_cores()))
    return ThreadSweep(counts, threads.STEPS, threads.ROUNDS, threads.BUDGET_S)


def predict_run(
    run: RunSpec, probes: ProbeSet, data_dir: Path | None = None, profile: str | None = None
) -> Prediction:
    """`profile`: a spec-sheet device; its thread sweep is left out (its cores are not
    this machine's)."""
    from dlbench.spec.layers import summarize

    s = sizes(run, data_dir)
    spec = run.model_spec()
    machine = machine_for(run, probes, profile)
    return predict(
        spec,
        summarize(spec, s.input_shape),
        machine,
        batch_size=run.batch_size,
        epochs=run.epochs,
        n_train=s.n_train,
        n_val=s.n_val,
        n_test=s.n_test,
        optimizer=run.optimizer,
        momentum=run.momentum,
        load_bytes=s.load_bytes,
        sweep=None if profile else thread_sweep(run),
    )


def predict_runs(
    runs: list[RunSpec],
    db: Path,
    data_dir: Path | None = None,
    profile: str | None = None,
) -> list[Prediction]:
    """One prediction per run, from the probes in `db`; MissingProbes if some are absent."""
    probes = ProbeSet(_probes(db))
    out: list[Prediction] = []
    missing: dict[str, None] = {}  # an ordered set
    devices: set[str] = set()
    frameworks: set[str] = set()
    for run in runs:
        try:
            out.append(predict_run(run, probes, data_dir, profile))
        except MissingProbes as exc:
            # one message for the whole suite: every probe missing, every framework to probe
            missing.update(dict.fromkeys(exc.missing))
            devices.add(exc.device)
            frameworks.update(exc.frameworks)
    if missing:
        raise MissingProbes(list(missing), ",".join(sorted(devices)), sorted(frameworks))
    return out


def _probes(db: Path) -> list[dict[str, Any]]:
    from dlbench.store.db import Store

    if not Path(db).exists():
        return []
    with Store(db, readonly=True) as store:
        return store.probes()


def walls_s(runs: list[RunSpec], predictions: list[Prediction]) -> list[float]:
    """Each run's wall time as the local executor runs the suite: a run forked from a warm
    process (runner/warm.py) does not start an interpreter nor import its framework; the first
    run of each run environment pays that, for the warm process (kept as the executor's pool
    keeps them: at most MAX_WARM, the least recently used closed first)."""
    from collections import OrderedDict

    from dlbench.runner.process import child_env
    from dlbench.runner.warm import MAX_WARM, available, env_key

    if not available():  # every run starts a fresh process
        return [p.wall_s for p in predictions]
    warm: OrderedDict[tuple, None] = OrderedDict()
    out = []
    for run, p in zip(runs, predictions, strict=True):
        key = env_key(child_env(run.framework, run.threads, run.device))
        if key in warm:
            warm.move_to_end(key)
            out.append(p.wall_s - p.start_import_s)
            continue
        warm[key] = None
        if len(warm) > MAX_WARM:
            warm.popitem(last=False)
        out.append(p.wall_s)
    return out


def suite_total_s(runs: list[RunSpec], predictions: list[Prediction]) -> float:
    """The suite's wall time: every run's process (`walls_s`), plus the parent's check before
    anything runs, which reads each dataset once (runner/execute.py `plan`), and, before each
    run, the noise guard's sample of the other processes' load (measure/noise.py, SAMPLE_S)."""
    from dlbench.measure.noise import SAMPLE_S

    loads = {r.dataset: p.load_s for r, p in zip(runs, predictions, strict=True)}
    return sum(walls_s(runs, predictions)) + sum(loads.values()) + SAMPLE_S * len(runs)


def prediction_record(prediction: Prediction) -> dict[str, Any]:
    """A prediction as the store keeps it beside its run: in the run's `extra` JSON, under
    `prediction` (store/db.py, schema 3)."""
    return prediction.record()
