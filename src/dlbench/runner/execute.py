"""Run a list of run specs: check them all, then each in a fresh process, one at a time.

Runs never overlap (two runs sharing a device would time each other). Before anything runs,
every spec is checked against its dataset's shape and classes, its framework and its device,
so bad input fails at once with exit code 2 and the database untouched. Each finished run is
stored in its own transaction as soon as it ends; a failed, diverged or timed-out run is a
result too, and the suite goes on. `resume` skips runs already stored as done.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlbench.errors import UserError
from dlbench.spec.run import RunSpec

DEFAULT_TIMEOUT_S = 3600.0


@dataclass
class Planned:
    run: RunSpec
    params: int
    params_excl_bn: int
    macs: int
    train_flops_per_sample: int = 0  # forward and backward (measure/work.py)
    skip: bool = False  # already done (resume)


@dataclass
class Progress:
    """Callbacks the CLI uses to draw progress; all optional."""

    on_start: Callable[[Planned, int, int], None] = lambda p, i, n: None
    on_event: Callable[[Planned, dict[str, Any]], None] = lambda p, e: None
    on_done: Callable[[Planned, dict[str, Any]], None] = lambda p, r: None


@dataclass
class Outcome:
    results: list[dict[str, Any]] = field(default_factory=list)
    row_ids: list[int] = field(default_factory=list)
    skipped: int = 0

    @property
    def all_ok(self) -> bool:
        return all(r["status"] == "finished" for r in self.results)


def expand_devices(runs: list[RunSpec]) -> list[RunSpec]:
    """Replace framework `all` by the installed frameworks, device `all` by what each sees."""
    from dlbench.frameworks import installed
    from dlbench.runner.process import resolve_device

    out: list[RunSpec] = []
    for run in runs:
        frameworks = installed() if run.framework == "all" else [run.framework]
        if not frameworks:
            raise UserError("no framework is installed: pip install 'dlbench[torch]'")
        for fw in frameworks:
            for dev in resolve_device(fw, run.device):
                out.append(run.model_copy(update={"framework": fw, "device": dev}))
    return out


def plan(runs: list[RunSpec], data_dir: Path | None) -> list[Planned]:
    """Check every run against its data, framework and device; UserError on the first bad one."""
    from dlbench.data import dataset_info, load_dataset
    from dlbench.frameworks import entry, missing_packages
    from dlbench.frameworks.base import head_for
    from dlbench.measure.work import train_flops_per_sample
    from dlbench.spec.layers import summarize

    planned = []
    infos: dict[str, Any] = {}
    for run in runs:
        entry(run.framework)
        if run.target_acc is not None and run.target_on == "val" and not run.val_fraction:
            raise UserError(
                f"{run.label()}: --target-acc on the validation set needs one: "
                "add --val-fraction 0.1, or use --target-on test"
            )
        if run.keep == "best-val" and not run.val_fraction:
            raise UserError(
                f"{run.label()}: --keep best-val chooses by validation accuracy and needs a "
                "validation set: add --val-fraction 0.1, or use --keep last"
            )
        missing = missing_packages(run.framework)
        if missing:
            raise UserError(
                f"{run.framework} needs {', '.join(missing)}, which is not installed: "
                f"{entry(run.framework).install}"
            )
        if run.dataset not in infos:
            infos[run.dataset] = dataset_info(run.dataset, data_dir)
            # Read it once now: a missing, truncated or corrupt file is bad input (exit 2),
            # found before anything runs, not a failed run later.
            load_dataset(run.dataset, data_dir)
        info = infos[run.dataset]
        spec = run.model_spec()
        summary = summarize(spec, info.input_shape)
        head_for(spec, run.loss, summary.output_units, info.num_classes)
        planned.append(
            Planned(
                run,
                summary.params,
                summary.params_excl_bn,
                summary.macs,
                train_flops_per_sample(summary),
            )
        )
    return planned


def _read_events(stream, out: queue.Queue) -> None:
    for line in stream:
        try:
            out.put(json.loads(line))
        except json.JSONDecodeError:
            continue
    out.put(None)


def run_one(
    planned: Planned,
    *,
    data_dir: Path | None,
    artifacts_dir: Path | None,
    timeout_s: float,
    progress: Progress,
) -> dict[str, Any]:
    """One run in a fresh process; always returns a result record."""
    from dlbench.measure.noise import sample_other_load
    from dlbench.runner.process import child_env, die_with_parent
    from dlbench.runner.worker import EVENT_FD_ENV

    run = planned.run
    job = {
        "run": run.model_dump(mode="json"),
        "data_dir": str(data_dir) if data_dir else None,
        "artifacts_dir": str(artifacts_dir) if artifacts_dir else None,
    }
    read_fd, write_fd = os.pipe()
    env = child_env(run.framework, run.threads)
    env[EVENT_FD_ENV] = str(write_fd)
    # The noise guard: other processes' CPU use just before the run (the worker measures it
    # again over the timed work: `load_during_pct`).
    load_before = sample_other_load()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dlbench.runner.worker"],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            env=env,
            pass_fds=(write_fd,),
            text=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        os.close(write_fd)
        events: queue.Queue = queue.Queue()
        reader = threading.Thread(
            target=_read_events, args=(os.fdopen(read_fd), events), daemon=True
        )
        reader.start()
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        result: dict[str, Any] | None = None
        epochs: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                if time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    result = {
                        "status": "timeout",
                        "epochs": epochs,
                        "message": f"stopped after {timeout_s:.0f} s; raise --timeout",
                    }
                    break
                continue
            if event is None:
                break
            if event["event"] == "result":
                result = event
            elif event["event"] == "epoch":
                epochs.append({k: v for k, v in event.items() if k != "event"})
            progress.on_event(planned, event)
        proc.wait()
        if result is None:
            log.seek(0)
            lines = [ln for ln in log.read().strip().splitlines() if ln.strip()]
            why = lines[-1] if lines else "no output"
            sig = -proc.returncode if proc.returncode and proc.returncode < 0 else None
            status = "oom" if sig == 9 else "failed"
            what = f"killed by signal {sig}" if sig else f"exited with code {proc.returncode}"
            result = {"status": status, "epochs": epochs, "message": f"run process {what}: {why}"}
    result.pop("event", None)
    result["started_at"] = started
    result["load_before_pct"] = load_before
    return result


def execute(
    runs: list[RunSpec],
    db_path: Path,
    *,
    suite: str = "",
    resume: bool = False,
    data_dir: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    save: bool = True,
    progress: Progress | None = None,
    predictions: dict[str, Any] | None = None,
) -> Outcome:
    """Check, then run and store each run. Bad input raises UserError before any write.
    `predictions` (run id -> runner.estimate's Prediction, made before the suite started) are
    stored with their runs."""
    from dlbench.measure import machine_fingerprint
    from dlbench.store.db import Store, check_db_path

    progress = progress or Progress()
    check_db_path(db_path)
    planned = plan(expand_devices(runs), data_dir)
    store = Store(db_path)
    outcome = Outcome()
    try:
        done = store.done_run_ids() if resume else set()
        todo = [p for p in planned if p.run.run_id not in done]
        outcome.skipped = len(planned) - len(todo)
        fingerprint = machine_fingerprint()
        for i, p in enumerate(todo):
            progress.on_start(p, i, len(todo))
            folder = artifacts_folder(db_path, p.run) if save else None
            result = run_one(
                p, data_dir=data_dir, artifacts_dir=folder, timeout_s=timeout_s, progress=progress
            )
            row = _row(p, result, suite, fingerprint)
            if predictions and p.run.run_id in predictions:
                from dlbench.runner.estimate import prediction_record

                prediction = prediction_record(predictions[p.run.run_id])
                row["extra"] = {**(row["extra"] or {}), "prediction": prediction}
            outcome.row_ids.append(store.add_run(row, result.get("epochs", [])))
            outcome.results.append(row)
            progress.on_done(p, row)
    finally:
        store.close()
    return outcome


def artifacts_folder(db_path: Path, run: RunSpec) -> Path:
    """A new folder for one run's weights and figures, beside the database; the spec that
    rebuilds the model is written into it too."""
    import uuid

    root = db_path.resolve().parent / f"{db_path.stem}-artifacts"
    folder = root / f"{run.run_id}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps(run.resolved(), indent=2) + "\n")
    return folder


def _row(p: Planned, result: dict[str, Any], suite: str, fingerprint: dict) -> dict[str, Any]:
    from dlbench.measure.noise import is_noisy
    from dlbench.measure.work import achieved_flops_per_s

    run = p.run
    skip = ("epochs", "versions", "class_names", "device_info")
    row = {k: v for k, v in result.items() if k not in skip}
    flops = (
        p.train_flops_per_sample * result["train_samples"] if result.get("train_samples") else None
    )
    row.update(
        run_id=run.run_id,
        suite=suite,
        model=run.model_name,
        dataset=run.dataset,
        framework=run.framework,
        device=run.device,
        tuning=run.tuning,
        params=p.params,
        params_excl_bn=p.params_excl_bn,
        macs=p.macs,
        epochs=run.epochs,
        epochs_done=len(result.get("epochs", [])),
        batch_size=run.batch_size,
        optimizer=run.optimizer,
        lr=run.lr,
        seed=run.effective_seed,
        repeat=run.repeat,
        spec=run.resolved(),
        class_names=result.get("class_names"),
        fingerprint={
            **fingerprint,
            "framework_versions": result.get("versions", {}),
            "device": result.get("device_info"),
            "threads": (result.get("options") or {}).get("threads"),
        },
        synthetic=int(bool(result.get("synthetic"))),
        train_flops_per_epoch=flops,
        achieved_flops_per_s=achieved_flops_per_s(flops, result.get("steady_epoch_s")),
        noisy=int(is_noisy(result.get("load_before_pct"), result.get("load_during_pct"))),
        target_acc=run.target_acc,
        target_on=run.target_on if run.target_acc is not None else None,
    )
    row.setdefault("message", None)
    extra = {
        k: row.pop(k)
        for k in ("data_source", "input_shape", "norm_stats", "kept_epoch")
        if k in row
    }
    row["extra"] = extra or None
    return row
