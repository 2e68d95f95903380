"""A progress bar per run: steps through the epochs, with the last epoch's loss and accuracy."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from dlbench.runner.execute import Planned
from dlbench.runner.execute import Progress as Callbacks
from dlbench.store.record import RunRecord


class RunProgress:
    def __init__(self, console: Console) -> None:
        self.console = console
        # run id -> predicted wall seconds (runner/estimate.py): the suite's time left
        self.left_s: dict[str, float] = {}
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[epoch]}"),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = None
        self.steps = 1

    def __enter__(self) -> RunProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def callbacks(self) -> Callbacks:
        return Callbacks(on_start=self.start, on_event=self.event, on_done=self.done)

    def start(self, p: Planned, i: int, n: int) -> None:
        label = escape(f"[{i + 1}/{n}] {p.run.label()}")
        if self.left_s:
            from dlbench.api import duration_text as _duration

            label += f" [dim](suite: ~{_duration(sum(self.left_s.values()))} left, predicted)[/]"
        self.task = self.bar.add_task(label, total=None, epoch="starting", metrics="")

    def event(self, p: Planned, e: dict[str, Any]) -> None:
        kind = e["event"]
        if kind == "start":
            self.steps = max(int(e["steps"]), 1)
            self.bar.update(
                self.task,
                total=self.steps * e["epochs"],
                completed=0,
                epoch=f"epoch 1/{e['epochs']}",
            )
        elif kind == "step":
            self.bar.update(
                self.task,
                completed=(e["epoch"] - 1) * self.steps + e["step"],
                epoch=f"epoch {e['epoch']}/{p.run.epochs}",
            )
        elif kind == "epoch":
            val = f" val acc {e['val_acc']:.3f}" if e.get("val_acc") is not None else ""
            self.bar.update(
                self.task,
                completed=e["epoch"] * self.steps,
                epoch=f"epoch {e['epoch']}/{p.run.epochs}",
                metrics=f"loss {e['train_loss']:.4f} acc {e['train_acc']:.3f}{val} "
                f"({e['epoch_s']:.1f} s)",
            )

    def expect(self, walls_s: dict[str, float]) -> None:
        """Each run's predicted wall seconds, by run id (runner/estimate.py `walls_s`): the bar
        then shows the suite's time left."""
        self.left_s = dict(walls_s)

    def done(self, p: Planned, row: RunRecord) -> None:
        self.left_s.pop(p.run.run_id, None)
        self.bar.remove_task(self.task)
        status = row["status"]
        if status == "finished":
            acc = row.get("test_acc")
            what = f"test acc {acc:.2%}" if acc is not None and not row.get("synthetic") else "done"
            self.console.print(
                f"[green]done[/] {escape(p.run.label())}: {what}, "
                f"train {row.get('train_s') or 0:.1f} s"
            )
        else:
            self.console.print(
                f"[red]{status}[/] {escape(p.run.label())}: {escape(str(row.get('message')))}"
            )
