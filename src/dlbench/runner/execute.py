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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlbench.errors import UserError, last_line
from dlbench.spec.run import RunSpec
from dlbench.store.record import RunRecord

if TYPE_CHECKING:
    from dlbench.runner.warm import WarmPool

DEFAULT_TIMEOUT_S = 3600.0


@dataclass
class Planned:
    run: RunSpec
    params: int
    params_excl_bn: int
    macs: int
    train_flops_per_sample: int = 0  # forward and backward (measure/work.py)


@dataclass
class Progress:
    """Callbacks the CLI uses to draw progress; all optional."""

    on_start: Callable[[Planned, int, int], None] = lambda p, i, n: None
    on_event: Callable[[Planned, dict[str, Any]], None] = lambda p, e: None
    on_done: Callable[[Planned, RunRecord], None] = lambda p, r: None


@dataclass
class Outcome:
    results: list[RunRecord] = field(default_factory=list)
    row_ids: list[int] = field(default_factory=list)
    skipped: int = 0
    dropped: list[str] = field(default_factory=list)  # pairs `all` left out, with the reason

    @property
    def all_ok(self) -> bool:
        return all(r.status == "finished" for r in self.results)


@dataclass
class Done:
    """One run back from an executor: its result as the worker returned it, the fingerprint of
    the machine it ran on, and anything the executor adds to the run's `extra`."""

    planned: Planned
    result: RunRecord
    fingerprint: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)  # RunRecord fields the executor sets


class LocalExecutor:
    """The default: one run at a time, each in a process of its own on this machine (forked
    from a warm process that has imported its framework: runner/warm.py).

    An executor does three things for `execute`: expand the runs against what it can use,
    choose what is left to run (`--resume`), and run them, yielding each as it ends (another
    executor: runner/ray_executor.py). `warm=False`: every run's process started fresh (what
    benchmarks/harness.py compares the warm processes with), as everywhere but Linux
    (runner/warm.py `available`)."""

    def __init__(self, warm: bool = True) -> None:
        from dlbench.runner.warm import available

        self.warm = warm and available()

    def expand(self, runs: list[RunSpec], dropped: list | None = None) -> list[RunSpec]:
        return expand_devices(runs, dropped)

    def pending(self, planned: list[Planned], store, resume: bool) -> tuple[list[Planned], int]:
        done = store.done_run_ids() if resume else set()
        todo = [p for p in planned if p.run.run_id not in done]
        return todo, len(planned) - len(todo)

    def results(
        self,
        todo: list[Planned],
        *,
        db_path: Path,
        data_dir: Path | None,
        timeout_s: float,
        save: bool,
        progress: Progress,
    ) -> Iterator[Done]:
        from dlbench.measure import machine_fingerprint
        from dlbench.runner.warm import WarmPool
        from dlbench.store.artifacts import new_run_folder

        fingerprint = machine_fingerprint()
        with WarmPool() as pool:  # closed with the suite, an interrupted one too
            for i, p in enumerate(todo):
                progress.on_start(p, i, len(todo))
                folder = new_run_folder(db_path, p.run.run_id, p.run.resolved()) if save else None
                result = run_one(
                    p,
                    data_dir=data_dir,
                    artifacts_dir=folder,
                    timeout_s=timeout_s,
                    progress=progress,
                    warm=pool if self.warm else None,
                )
                yield Done(p, result, fingerprint)


def expand_devices(runs: list[RunSpec], dropped: list | None = None) -> list[RunSpec]:
    """Replace framework `all` by the installed frameworks, device `all` by what each sees;
    the pairs left out (a framework that cannot see the GPU) are added to `dropped`."""
    from dlbench.frameworks import installed
    from dlbench.runner.process import expand_pairs
    from dlbench.spec.precision import refusal

    out: list[RunSpec] = []
    for run in runs:
        every = run.framework == "all"
        frameworks = installed() if every else [run.framework]
        if not frameworks:
            raise UserError("no framework is installed: pip install 'dlbench[torch]'")
        pairs, left = expand_pairs(frameworks, run.device, every)
        if dropped is not None:
            dropped += [d for d in left if d not in dropped]
        if run.device == "all":  # the devices that can compute the run's precision
            pairs = [(fw, dev) for fw, dev in pairs if not refusal(run.precision, run.tf32, dev)]
        out += [run.model_copy(update={"framework": fw, "device": dev}) for fw, dev in pairs]
    return out


def plan(runs: list[RunSpec], data_dir: Path | None) -> list[Planned]:
    """Check every run against its data, framework and device; UserError on the first bad one."""
    from dlbench.data import dataset_info, load_dataset
    from dlbench.frameworks import entry, missing_packages
    from dlbench.frameworks.base import head_for
    from dlbench.measure.work import train_flops_per_sample
    from dlbench.spec.layers import summarize
    from dlbench.spec.precision import refusal

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
        why = refusal(run.precision, run.tf32, run.device)
        if why:
            raise UserError(f"{run.label()}: {why}")
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
    warm: WarmPool | None = None,
) -> RunRecord:
    """One run in a process of its own (forked from a warm process of `warm`'s, or a fresh
    one without); always returns a result record."""
    from dlbench.measure.noise import sample_other_load
    from dlbench.runner.process import child_env, parent_death_preexec
    from dlbench.runner.worker import EVENT_FD_ENV

    run = planned.run
    job = {
        "run": run.model_dump(mode="json"),
        "data_dir": str(data_dir) if data_dir else None,
        "artifacts_dir": str(artifacts_dir) if artifacts_dir else None,
    }
    env = child_env(run.framework, run.threads, run.device)
    # Started before the noise guard's sample: a warm process's import is not the machine's
    # noise. None: no pool, or its process for this environment could not start.
    proc_from = warm.get(env, run.framework) if warm is not None else None
    warm_import_s = proc_from.import_s if proc_from is not None else None
    read_fd, write_fd = os.pipe()
    # The noise guard: other processes' CPU use just before the run (the worker measures it
    # again over the timed work: `load_during_pct`).
    load_before = sample_other_load()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryFile("w+") as log:
        proc: Any = None
        if proc_from is not None:
            try:
                proc = proc_from.fork(job, log.fileno(), write_fd)
            except OSError as exc:  # it died since: a fresh process instead
                print(f"dlbench: the warm process did not fork ({exc})", file=sys.stderr)
                warm_import_s = None
        if proc is None:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dlbench.runner.worker"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                env={**env, EVENT_FD_ENV: str(write_fd)},
                pass_fds=(write_fd,),
                text=True,
                preexec_fn=parent_death_preexec(),
            )
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(job))  # a few kB: the pipe's buffer holds it
            proc.stdin.close()
        os.close(write_fd)
        events: queue.Queue = queue.Queue()
        reader = threading.Thread(
            target=_read_events, args=(os.fdopen(read_fd), events), daemon=True
        )
        reader.start()
        result: RunRecord | None = None
        epochs: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while True:
            # Checked before every event, not only while none comes: a run whose epochs end
            # faster than the poll would otherwise never time out.
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                message = f"stopped after {timeout_s:.0f} s; raise --timeout"
                result = RunRecord(status="timeout", epochs=epochs, message=message)
                break
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if event is None:
                break
            if event["event"] == "result":
                result = RunRecord.from_json({k: v for k, v in event.items() if k != "event"})
            elif event["event"] == "epoch":
                epochs.append({k: v for k, v in event.items() if k != "event"})
            progress.on_event(planned, event)
        proc.wait()
        if result is None:
            log.seek(0)
            why = last_line(log.read())
            sig = -proc.returncode if proc.returncode and proc.returncode < 0 else None
            status = "oom" if sig == 9 else "failed"
            what = f"killed by signal {sig}" if sig else f"exited with code {proc.returncode}"
            message = f"run process {what}: {why}"
            result = RunRecord(status=status, epochs=epochs, message=message)
    result.started_at = started
    result.load_before_pct = load_before
    result.warm_import_s = warm_import_s
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
    executor: Any = None,
    predict: Callable[[list[RunSpec]], dict[str, Any] | None] | None = None,
) -> Outcome:
    """Check, then run and store each run. Bad input raises UserError before any write.
    `executor`: where the runs run (default: LocalExecutor, this machine). `predict`: called
    with the checked runs before any runs, it returns their predictions (run id ->
    runner.estimate's Prediction), stored with each run."""
    from contextlib import closing

    from dlbench.store.db import Store, check_db_path

    progress = progress or Progress()
    executor = executor or LocalExecutor()
    check_db_path(db_path)
    dropped: list = []
    planned = plan(executor.expand(runs, dropped), data_dir)
    # After the checks: bad input must not even open the database (nor make its -wal file).
    predictions = predict([p.run for p in planned]) if predict else None
    store = Store(db_path)
    outcome = Outcome(dropped=[str(d) for d in dropped])
    try:
        todo, outcome.skipped = executor.pending(planned, store, resume)
        finished = executor.results(
            todo,
            db_path=db_path,
            data_dir=data_dir,
            timeout_s=timeout_s,
            save=save,
            progress=progress,
        )
        with closing(finished):  # an interrupted suite stops its executor's runs too
            for done in finished:
                p, result = done.planned, done.result
                _complete(result, p, suite, done.fingerprint)
                result.update(**done.extra)
                if predictions and p.run.run_id in predictions:
                    from dlbench.runner.estimate import prediction_record

                    result.prediction = prediction_record(predictions[p.run.run_id])
                outcome.row_ids.append(store.add_run(result))
                outcome.results.append(result)
                progress.on_done(p, result)
    finally:
        store.close()
    return outcome


def _complete(result: RunRecord, p: Planned, suite: str, fingerprint: dict) -> None:
    """Add to the worker's record what the plan and the machine know."""
    from dlbench.measure.noise import is_noisy
    from dlbench.measure.work import achieved_flops_per_s

    run = p.run
    flops = p.train_flops_per_sample * result.train_samples if result.train_samples else None
    result.update(
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
        planned_epochs=run.epochs,
        epochs_done=len(result.epochs),
        batch_size=run.batch_size,
        optimizer=run.optimizer,
        lr=run.lr,
        seed=run.effective_seed,
        repeat=run.repeat,
        spec=run.resolved(),
        fingerprint={
            **fingerprint,
            "framework_versions": result.versions or {},
            "device": result.device_info,
            "threads": (result.options or {}).get("threads"),
        },
        synthetic=int(bool(result.synthetic)),
        train_flops_per_epoch=flops,
        achieved_flops_per_s=achieved_flops_per_s(flops, result.steady_epoch_s),
        noisy=int(is_noisy(result.load_before_pct, result.load_during_pct)),
        target_acc=run.target_acc,
        target_on=run.target_on if run.target_acc is not None else None,
    )
