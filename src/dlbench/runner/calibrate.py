"""The estimate's probes, each in a process of its own: `python -m dlbench.runner.calibrate`.

Four kinds, cheap enough (seconds each) that `dlbench estimate --refresh-probes` can redo a
stale one itself:
- `gemm-shapes`: float32 products over a grid of (M, K, N) shapes, per library
  (frameworks/gemm_shapes.py), for the rate of thin products; `conv-shapes`: 3x3
  convolutions likewise (libraries run them with their own kernels, not as a product);
  `layer-rates`: ReLU, max-pooling and batch-norm, forward and backward, at three sizes
  (their kernels move bytes far slower than a copy does);
- `bandwidth`: a copy at sizes from cache to DRAM;
- `calibration`: per framework, tuning and device, the framework's own cost: a tiny fixed
  model (far under a MFLOP a step, so its time is the framework's, not the arithmetic's) is
  trained for four epochs of 100 steps at two batch sizes and with two depths, and of 400
  steps once, and the steady epochs' median is solved for a cost per step, per sample, per
  operation and per epoch (measure/estimate.py `fit_calibration`); the same process times its
  start, import, build, compile, first epoch and evaluation;
- `load`: reading and normalising a dataset, in this process (no framework needed).
Every record carries the boot id and time it was measured (measure/estimate.py `stale_reason`).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import datetime, timezone
from typing import Any

from dlbench.child import exit_now
from dlbench.errors import UserError
from dlbench.measure.estimate import (
    CALIBRATION_CLASSES,
    CALIBRATION_CONFIGS,
    CALIBRATION_INPUT,
    LIBRARY,
    tiny_model,
)

TIMEOUT_S = 600
EPOCHS = 4  # per calibration model: the first, and three steady ones whose median is kept
LIBRARY_FRAMEWORK = {"torch": "torch", "jax": "keras-jax", "tensorflow": "keras-tf"}


def _ops(hidden: int) -> int:
    from dlbench.spec.cost import layer_costs

    return sum(c.ops for c in layer_costs(tiny_model(hidden), CALIBRATION_INPUT, 1))


# -- the child ---------------------------------------------------------------------------------
def _calibrate(job: dict[str, Any], started: float) -> dict[str, Any]:
    import numpy as np

    from dlbench.frameworks.base import PreparedData
    from dlbench.measure.estimate import fit_calibration
    from dlbench.runner.worker import import_framework
    from dlbench.spec.run import RunSpec

    # What a run imports before it is timed (the adapter and its RUN_IMPORTS, as the worker and
    # a warm process import them): imported later, inside the first build, the rest of torch
    # (torch._dynamo, 1.2-1.5 s) read as build time, which a run does not pay.
    t0 = time.perf_counter()
    backend = import_framework(job["framework"])
    import_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    c, h, w = CALIBRATION_INPUT
    points, detail = [], {}
    for name, batch, hidden, steps in CALIBRATION_CONFIGS:
        n = batch * steps
        x = rng.random((n, h, w, c), dtype=np.float32)
        y = rng.integers(0, CALIBRATION_CLASSES, n).astype(np.int64)
        xt, yt = x[:4096], y[:4096]
        empty_x, empty_y = x[:0], y[:0]
        data = PreparedData(
            x,
            y,
            empty_x,
            empty_y,
            xt,
            yt,
            CALIBRATION_CLASSES,
            tuple(str(i) for i in range(CALIBRATION_CLASSES)),
        )
        run = RunSpec(
            model=tiny_model(hidden),
            dataset="synthetic:1x8x8",
            framework=job["framework"],
            device=job["device"],
            tuning=job["tuning"],
            epochs=EPOCHS,
            batch_size=batch,
            threads=job.get("threads"),
        )
        t0 = time.perf_counter()
        trainer = backend.Trainer(run, data, job["device"])
        build_s = time.perf_counter() - t0
        compile_s = trainer.warm_up()
        epochs: list[float] = []
        trainer.fit(lambda rec, times=epochs: times.append(rec.epoch_s) or True, None)
        t0 = trainer.clock.now()
        trainer.evaluate(xt, yt)
        eval_s = trainer.clock.now() - t0
        # one steady epoch read 1.0-2.7 ms a step for keras-tf (stop 27): the median of three
        steady = statistics.median(epochs[1:])
        point = {"step_s": steady / steps, "batch": batch, "ops": _ops(hidden), "steps": steps}
        points.append(point)
        if name == "small":
            detail.update(
                build_s=build_s,
                compile_s=compile_s,
                first_extra_s=max(epochs[0] - steady, 0.0),
                eval_step_s=eval_s / -(-len(xt) // 1024),
            )
        detail[f"{name}_step_s"] = point["step_s"]
        detail[f"{name}_steps"] = steps
    detail.update(fit_calibration(points))
    detail.update(start_s=started, import_s=import_s)
    return detail


def main() -> None:
    wall_at_start = time.time()  # the parent subtracts its spawn time: process start
    job: dict[str, Any] = json.loads(sys.stdin.read())
    try:
        if job["kind"] == "gemm-shapes":
            if job["library"] == "jax":
                from dlbench.frameworks.base import pin_to_cpus

                pin_to_cpus(job.get("threads"))
            from dlbench.frameworks import gemm_shapes

            rates = getattr(gemm_shapes, SHAPE_PROBES[job["what"]][1])
            out: Any = rates(job["library"], job["device"])
        elif job["kind"] == "bandwidth":
            from dlbench.frameworks.gemm_shapes import bandwidth

            out = bandwidth(job["device"])
        else:
            if job["framework"] == "keras-jax":
                from dlbench.frameworks.base import pin_to_cpus

                pin_to_cpus(job.get("threads"))
            out = _calibrate(job, wall_at_start)
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(2)
    print(json.dumps(out))


# -- the parent --------------------------------------------------------------------------------
def _child(job: dict[str, Any], framework: str, threads: int | None) -> Any:
    from dlbench.runner.process import run_python

    stdout, error = run_python(
        ["-m", "dlbench.runner.calibrate"], framework, threads, TIMEOUT_S, job
    )
    if error:
        what = job.get("library") or job.get("framework") or "torch"
        raise UserError(f"the {job['kind']} probe ({what}) on {job['device']} {error}")
    return json.loads(stdout.strip().splitlines()[-1])


def _record(kind: str, device: str, threads: int | None, **values: Any) -> dict[str, Any]:
    from dlbench.measure.estimate import boot_id
    from dlbench.measure.fingerprint import cpu_model, machine_fingerprint

    fp = machine_fingerprint()
    return {
        "kind": kind,
        "device": device,
        "dtype": "float32",
        "threads": threads,
        "hostname": fp["hostname"],
        "cpu": cpu_model(),
        "boot_id": boot_id(),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **values,
    }


# what a shapes probe times -> (the record's kind, the function of frameworks/gemm_shapes.py)
SHAPE_PROBES = {
    "products": ("gemm-shapes", "gemm_rates"),  # FLOP/s by (M, K, N)
    "convs": ("conv-shapes", "conv_rates"),  # FLOP/s by im2col shape
    "layers": ("layer-rates", "layer_rates"),  # bytes/s by element-wise kind and bytes
}


def probe_shapes(
    device: str, library: str, threads: int | None, what: str = "products"
) -> dict[str, Any]:
    """Products, 3x3 convolutions or element-wise layers over a grid of shapes, in `library`."""
    job = {"kind": "gemm-shapes", "device": device, "library": library, "threads": threads,
           "what": what}  # fmt: skip
    rates = _child(job, LIBRARY_FRAMEWORK[library], threads)
    kind = SHAPE_PROBES[what][0]
    best = {"bytes_per_s" if what == "layers" else "flops_per_s": max(rates.values())}
    return _record(kind, device, threads, library=library, by_size=rates, **best)


def probe_bandwidth(device: str, threads: int | None) -> dict[str, Any]:
    rates = _child({"kind": "bandwidth", "device": device}, "torch", threads)
    return _record(
        "bandwidth",
        device,
        threads,
        library="torch",
        by_size=rates,
        bytes_per_s=max(rates.values()),
    )


def calibrate(framework: str, tuning: str, device: str, threads: int | None) -> dict[str, Any]:
    job = {
        "kind": "calibration",
        "framework": framework,
        "tuning": tuning,
        "device": device,
        "threads": threads,
    }
    spawned = time.time()
    detail = _child(job, framework, threads)
    detail["start_s"] = max(detail["start_s"] - spawned, 0.0)
    return _record(
        "calibration", device, threads, framework=framework, tuning=tuning, detail=detail
    )


def probe_load(data_dir=None) -> dict[str, Any]:
    """Bytes/s of reading and normalising a dataset: Fashion-MNIST when it is here, else
    scikit-learn's digits."""
    from dlbench.data import load_dataset, locate, normalize

    name = "fashion-mnist" if locate("fashion-mnist", data_dir)[0] else "digits"
    t0 = time.perf_counter()
    ds = load_dataset(name, data_dir)
    normalize(ds.x_train, "scale", reference=ds.x_train)
    normalize(ds.x_test, "scale", reference=ds.x_train)
    seconds = time.perf_counter() - t0
    nbytes = ds.x_train.nbytes + ds.x_test.nbytes
    return _record("load", "cpu", None, library=name, bytes_per_s=nbytes / seconds)


TUNINGS = ("default", "tuned")


def probe_for_estimate(
    device: str,
    frameworks: list[str],
    threads: int | None,
    data_dir=None,
    on_record=lambda record: None,
) -> list[dict[str, Any]]:
    """Every probe the estimate needs for `frameworks` on `device`, each handed to
    `on_record` as soon as it is measured (the CLI stores it at once: a failure later loses
    nothing)."""
    libraries = sorted({LIBRARY.get(fw, "torch") for fw in frameworks}) if device == "cpu" else []
    steps = [lambda: probe_bandwidth(device, threads)]
    steps += [
        lambda lib=lib, what=what: probe_shapes(device, lib, threads, what)
        for lib in libraries or ["torch"]
        for what in SHAPE_PROBES
    ]
    steps += [
        lambda fw=fw, t=t: calibrate(fw, t, device, threads) for fw in frameworks for t in TUNINGS
    ]
    if device == "cpu":
        steps.append(lambda: probe_load(data_dir))
    records = []
    for step in steps:
        record = step()
        on_record(record)
        records.append(record)
    return records


if __name__ == "__main__":
    main()
    exit_now()
