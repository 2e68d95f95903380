"""One run, in its own process: `python -m dlbench.runner.worker` with a JSON job on stdin.

The framework is imported here and nowhere in the parent, after the parent has set the
environment it needs (Keras' backend, thread counts). Progress and the result go to the parent
as JSON lines on the file descriptor named by DLBENCH_EVENT_FD, so that whatever the framework
prints on stdout or stderr cannot corrupt them. Every failure becomes a result with a status.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import statistics
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

from dlbench.child import exit_now
from dlbench.store.record import RunRecord

if TYPE_CHECKING:
    from dlbench.frameworks.base import Adapter

EVENT_FD_ENV = "DLBENCH_EVENT_FD"
DIVERGED_LOSS = 1e6  # a training loss above this (or not finite) means the run has diverged


class Events:
    def __init__(self, fd: int | None) -> None:
        self._out = os.fdopen(fd, "w", buffering=1) if fd is not None else sys.stdout

    def send(self, event: str, **fields: Any) -> None:
        self._out.write(json.dumps({"event": event, **fields}) + "\n")
        self._out.flush()


def _status_of(exc: BaseException) -> str:
    text = f"{type(exc).__name__} {exc}".lower()
    if isinstance(exc, MemoryError) or "out of memory" in text or "resourceexhausted" in text:
        return "oom"
    return "failed"


class TargetWatch:
    """Time to accuracy, DAWNBench-style: the first epoch whose accuracy (validation or test)
    reaches the target, and the training seconds until then (the sum of epoch_s, evaluation
    left out). A run that never reaches it keeps `tta_epoch` None."""

    def __init__(self, target: float | None, on: str) -> None:
        self.target, self.on = target, on
        self.train_s = 0.0
        self.epoch: int | None = None
        self.at_s: float | None = None

    def see(self, record: dict[str, Any]) -> None:
        self.train_s += record["epoch_s"]
        acc = record.get(f"{self.on}_acc")
        if self.target is None or self.epoch is not None or acc is None:
            return
        if acc >= self.target:
            self.epoch, self.at_s = record["epoch"], self.train_s

    def result(self) -> dict[str, Any]:
        if self.target is None:
            return {}
        return {
            "target_acc": self.target,
            "target_on": self.on,
            "tta_epoch": self.epoch,
            "tta_s": self.at_s,
        }


def _device_info(backend: Adapter, device: str) -> dict[str, Any]:
    """The device as the adapter sees it (GPU name, memory, CUDA), and the NVIDIA driver."""
    from dlbench.measure.fingerprint import run_context

    try:
        info = dict(backend.device_details(device))
    except Exception as exc:  # noqa: BLE001 - missing details never fail a run
        info = {"device": device, "details_error": f"{type(exc).__name__}: {exc}"}
    info.update(run_context(info))  # environment; for a GPU its driver, CUDA and NVML state
    return info


def _gpu_of(info: dict[str, Any]) -> tuple[int | None, str | None]:
    """(index, uuid) of the run's GPU for NVML; (None, None) on the CPU."""
    name = str(info.get("device", "cpu"))
    if not name.startswith("cuda"):
        return None, None
    index = int(name.split(":")[1]) if ":" in name else 0
    return index, info.get("gpu_uuid")


def import_framework(framework: str) -> Adapter:
    """The adapter, with what its runs import (a warm process imports it so too)."""
    from dlbench.frameworks import adapter

    backend = adapter(framework)
    for module in backend.RUN_IMPORTS:
        importlib.import_module(module)
    return backend


def run_job(job: dict[str, Any], events: Events) -> RunRecord:
    """Load, build, train, test; returns the result record (also on failure)."""
    t_start = time.perf_counter()
    from dlbench.data import load_dataset, prepare
    from dlbench.errors import UserError, exception_line
    from dlbench.frameworks.base import confusion_matrix
    from dlbench.measure import peak_rss_bytes
    from dlbench.measure.energy import EnergyMeter
    from dlbench.measure.noise import LoadMeter
    from dlbench.spec.run import RunSpec

    run = RunSpec.model_validate(job["run"])
    result = RunRecord(status="failed")
    try:
        t0 = time.perf_counter()
        backend = import_framework(run.framework)
        result.import_s = time.perf_counter() - t0
        result.versions = backend.versions()

        t0 = time.perf_counter()
        ds = load_dataset(
            run.dataset, job.get("data_dir"), limit_train=run.limit_train, limit_test=run.limit_test
        )
        data = prepare(ds, run.normalize, run.val_fraction, run.effective_seed)
        x_test = data.x_test
        result.update(
            load_s=time.perf_counter() - t0,
            train_samples=len(data.x_train),
            val_samples=len(data.x_val),
            test_samples=len(x_test),
            synthetic=ds.synthetic,
            class_names=list(ds.class_names),
            data_source=ds.source,
            input_shape=list(ds.input_shape),
        )
        if run.normalize == "standardize":  # what predict needs to prepare new images alike
            from dlbench.data.transforms import channel_stats

            mean, std = channel_stats(ds.x_train)
            result.norm_stats = {"mean": mean.tolist(), "std": std.tolist()}

        t0 = time.perf_counter()
        trainer = backend.Trainer(run, data, run.device)
        result.build_s = time.perf_counter() - t0
        result.compile_s = trainer.warm_up()
        result.options = trainer.options
        result.device_info = _device_info(backend, run.device)
        events.send(
            "start",
            steps=math.ceil(len(data.x_train) / run.batch_size),
            epochs=run.epochs,
            setup_s=time.perf_counter() - t_start,
        )

        diverged: list[str] = []
        target = TargetWatch(run.target_acc, run.target_on)
        best: dict[str, Any] = {}  # keep: best-val: the best epoch so far and its weights

        def on_epoch(rec) -> bool:
            record = vars(rec).copy()
            if run.target_acc is not None and run.target_on == "test":
                # Outside the timed region: epoch_s is already read.
                t0 = trainer.clock.now()
                ev = trainer.evaluate(x_test, ds.y_test)
                record.update(test_loss=ev.loss, test_acc=ev.acc, test_s=trainer.clock.now() - t0)
            target.see(record)
            better = rec.val_acc is not None and rec.val_acc > best.get("acc", -1.0)
            if run.keep == "best-val" and better:
                # After the epoch's clock stopped: the copy is not training time.
                best.update(acc=rec.val_acc, epoch=rec.epoch, state=trainer.snapshot())
            result.epochs.append(record)
            events.send("epoch", **record)
            if not math.isfinite(rec.train_loss) or rec.train_loss > DIVERGED_LOSS:
                diverged.append(f"training loss {rec.train_loss:.3g} at epoch {rec.epoch}")
                return False
            return True

        def on_step(epoch: int, step: int, steps: int) -> None:
            events.send("step", epoch=epoch, step=step, steps=steps)

        # Other processes' CPU use over the timed work (training, then the test pass): the
        # noise guard's "during" figure, measured here where the timed region is known.
        load = LoadMeter.start()
        meter = EnergyMeter(*_gpu_of(result.device_info)).start()
        trainer.on_phase = meter.phase  # the trainer pauses the energy window while it validates
        trainer.fit(on_epoch, on_step)
        result.update(**meter.stop())
        result.options = {**(result.options or {}), **meter.notes()}
        result.update(**target.result())
        epoch_times = [e["epoch_s"] for e in result.epochs]
        result.train_s = sum(epoch_times)
        result.first_epoch_s = epoch_times[0] if epoch_times else None
        steady = statistics.median(epoch_times[1:]) if len(epoch_times) > 1 else None
        result.steady_epoch_s = steady
        per_epoch = steady or result.first_epoch_s
        result.samples_per_s = len(data.x_train) / per_epoch if per_epoch else None
        if diverged:
            result.load_during_pct = load.other_pct()
            result.status = "diverged"
            result.message = f"diverged: {diverged[0]}; try a smaller learning rate"
        else:
            if best:
                trainer.restore(best["state"])
                result.kept_epoch = best["epoch"]
            t0 = trainer.clock.now()
            ev = trainer.evaluate(x_test, ds.y_test)
            result.test_s = trainer.clock.now() - t0
            result.load_during_pct = load.other_pct()
            result.test_loss, result.test_acc = ev.loss, ev.acc
            if ds.num_classes:
                result.confusion = confusion_matrix(
                    ds.y_test, ev.predictions, ds.num_classes
                ).tolist()
            result.status = "finished"
            if job.get("artifacts_dir"):
                from dlbench.store.artifacts import weights_path

                weights = weights_path(job["artifacts_dir"], backend.WEIGHTS_SUFFIX)
                trainer.save(weights)
                result.weights_path = str(weights)
        result.peak_device_bytes = trainer.peak_device_bytes()
    except UserError as exc:
        result.message = str(exc)
    except BaseException as exc:  # noqa: BLE001 - every failure is a result
        result.status = _status_of(exc)
        result.message = exception_line(exc)
        traceback.print_exc(file=sys.stderr)
    result.peak_rss_bytes = peak_rss_bytes()
    result.wall_s = time.perf_counter() - t_start
    return result


def main() -> None:
    serve(json.loads(sys.stdin.read()))


def serve(job: dict[str, Any]) -> None:
    """The job run, its events and result sent (a fresh process's, or a warm process's fork)."""
    fd = os.environ.get(EVENT_FD_ENV)
    events = Events(int(fd) if fd else None)
    result = run_job(job, events)
    events.send("result", **result.to_json())


if __name__ == "__main__":
    main()
    exit_now()
