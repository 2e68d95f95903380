"""`Results`: stored runs as Python values, for notebooks: pandas, matplotlib, Jupyter display.

A `Results` is a list of stored runs (the rows `dlbench results` shows) and the database they
came from. It renders itself in Jupyter as the concise table with its verdict lines
(`_repr_html_`, every user string escaped) and as that table in text (`repr`). Its tables are
pandas DataFrames (`to_pandas()`: one row per run, the columns of `dlbench export`; `epochs()`:
one row per epoch); its figures are matplotlib `Figure` objects, which Jupyter draws inline.
pandas is imported only by the methods that return a DataFrame.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlbench.errors import UserError

if TYPE_CHECKING:
    from dlbench.store.db import RunRow

PANDAS_INSTALL = "pip install 'dlbench[notebook]' (or pip install pandas)"


def _label(r: RunRow) -> str:
    return f"run {r.id}: {r['model']} / {r['framework']} / {r['device']}"


def _pandas():
    try:
        import pandas
    except ImportError:
        raise UserError(f"this needs pandas, which is not installed: {PANDAS_INSTALL}") from None
    return pandas


@dataclass
class Results:
    """Stored runs and the database they are in. Index it, iterate it, or ask for tables,
    comparisons, figures and the HTML report."""

    rows: list[RunRow]
    db: Path
    name: str = ""
    all_ok: bool = True  # every run finished (no failed, diverged, oom or timeout)
    _notes: list[str] = field(default_factory=list, repr=False)

    # -- making one -----------------------------------------------------------------------
    @classmethod
    def load(cls, db: str | Path, runs: str | None = None) -> Results:
        from dlbench.report.select import select_runs
        from dlbench.store.db import Store, check_db_path

        db = Path(db)
        check_db_path(db, must_exist=True)
        with Store(db, readonly=True) as store:
            rows = select_runs(store.runs(), runs)
        return cls(rows, db, name=str(db), all_ok=all(r["status"] == "finished" for r in rows))

    @classmethod
    def from_ids(cls, db: Path, ids: list[int], name: str = "", all_ok: bool = True) -> Results:
        from dlbench.store.db import Store

        rows: list[RunRow] = []
        if ids:
            marks = ",".join("?" * len(ids))
            with Store(db, readonly=True) as store:
                rows = store.runs(f"id IN ({marks})", tuple(ids))
        return cls(rows, Path(db), name=name, all_ok=all_ok)

    # -- a sequence of runs -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[RunRow]:
        return iter(self.rows)

    def __getitem__(self, i: int) -> RunRow:
        return self.rows[i]

    @property
    def ids(self) -> list[int]:
        """The runs' ids in the database, as `dlbench results` prints them."""
        return [r.id for r in self.rows]

    def _runs_filter(self) -> str:
        return ",".join(str(i) for i in self.ids)

    def _require(self) -> None:
        if not self.rows:
            raise UserError(f"no runs in these results (from {self.db}): run `dlbench.run` first")

    # -- tables -----------------------------------------------------------------------------
    def to_pandas(self):
        """One row per run, the columns of `dlbench export --format csv` (raw values, units in
        the names), the run id as the index."""
        from dlbench.report.columns import COLUMNS, table_rows

        pd = _pandas()
        frame = pd.DataFrame(table_rows(self.rows), columns=[c.key for c in COLUMNS])
        return frame.set_index("id")

    def epochs(self):
        """One row per epoch of every run: run id, model, framework, device, then the epoch's
        record (epoch, train_loss, train_acc, val_loss, val_acc, epoch_s, ...)."""
        pd = _pandas()
        records = []
        for r in self.rows:
            for e in r.epochs:
                records.append(
                    {
                        "run": r.id,
                        "model": r["model"],
                        "dataset": r["dataset"],
                        "framework": r["framework"],
                        "device": r["device"],
                        **e,
                    }
                )
        return pd.DataFrame.from_records(records)

    def compare(
        self, by: str = "framework", baseline: str | None = None, metric: str = "steady_epoch_s"
    ) -> Comparison:
        """Configurations that differ only in `by` (framework, device or any run field):
        medians, 95% intervals, speedups against `baseline`, as `dlbench compare` shows."""
        from dlbench.report import comparison

        self._require()
        return Comparison(comparison.compare(self.rows, by, baseline=baseline, metric=metric))

    def verdicts(self) -> list[str]:
        """The verdict lines under the table: which value ran fastest, by how much."""
        from dlbench.report.concise import verdicts

        return verdicts(self.rows)

    def report(self, path: str | Path = "report.html", samples: bool = True) -> Path:
        """Write the HTML report of these runs (figures also as PNG and SVG beside it)."""
        from dlbench.report.html import build_report

        self._require()
        return build_report(self.db, Path(path), runs=self._runs_filter(), samples=samples).path

    # -- figures ----------------------------------------------------------------------------
    def plot_learning_curves(self):
        """Every run's training loss and accuracy (validation where held out) per epoch, on
        one set of axes: a matplotlib Figure."""
        from dlbench.report.figures import overlay_figure

        with_epochs = [r for r in self.rows if r.epochs]
        if not with_epochs:
            raise UserError("no run here recorded epochs: nothing to plot")
        series = [(_label(r), r.epochs) for r in with_epochs]
        models = sorted({str(r["model"]) for r in with_epochs})
        return overlay_figure(f"{', '.join(models)}: learning curves", series)

    def plot_speedups(self, by: str = "framework"):
        """The speedup of each value of `by` over the baseline (torch, or the CPU for
        `by="device"`) in the steady epoch time, whiskers over repeats: a matplotlib Figure."""
        from dlbench.report.figures import speedup_figure

        comp = self.compare(by).comparison
        labels, values, lows, highs = [], [], [], []
        for g in comp.groups:
            base = next((e for e in g.entries if e.value == g.baseline), None)
            for e in g.entries:
                if base is None or e is base or e.ratio is None:
                    continue
                b, t = base.summary, e.summary
                labels.append(f"{g.title} / {e.value}")
                values.append(e.ratio)
                lows.append(b.min / t.max)
                highs.append(b.max / t.min)
        if not values:
            raise UserError(
                f"no two finished runs differ only in {by} (with two or more epochs, for a "
                f"steady epoch time): nothing to plot"
            )
        fig = speedup_figure(labels, values, lows, highs)
        if by != "device":
            fig.axes[0].set_xlabel(f"speedup over {comp.groups[0].baseline} (steady epoch)")
        return fig

    def plot_confusion(self, run: int | None = None):
        """The confusion matrix of one run (its id; the first finished run by default)."""
        import numpy as np

        from dlbench.report.figures import confusion_figure

        chosen = [r for r in self.rows if r["status"] == "finished" and r["confusion"]]
        if run is not None:
            chosen = [r for r in chosen if r.id == run]
        if not chosen:
            raise UserError(f"no finished run {run or ''} with a confusion matrix here")
        r = chosen[0]
        names = r["class_names"]
        return confusion_figure(np.asarray(r["confusion"]), names, names, _label(r))

    # -- display ----------------------------------------------------------------------------
    def table(self, wide: bool = False, width: int = 100) -> str:
        """The console table as text (concise, `width` columns; `wide`: every column)."""
        import io

        from rich.console import Console

        from dlbench.report.table import print_table

        buf = io.StringIO()
        # force_jupyter=False: in a notebook rich would display the text instead of writing it.
        console = Console(
            file=buf, width=10_000 if wide else width, color_system=None, force_jupyter=False
        )
        title = f"{self.name}: {len(self)} run(s) in {self.db}" if self.name else str(self.db)
        print_table(self.rows, console, title=title, wide=wide)
        return buf.getvalue()

    def __repr__(self) -> str:
        if not self.rows:
            return f"Results(no runs, db={str(self.db)!r})"
        return self.table()

    def _repr_html_(self) -> str:
        from dlbench.report.columns import formatted_rows, notes
        from dlbench.report.concise import concise_columns, verdicts

        esc = html.escape
        if not self.rows:
            return f"<p>no runs in {esc(str(self.db))}</p>"
        columns = concise_columns(self.rows)
        head = "".join(f"<th>{esc(c.title)}</th>" for c in columns)
        body = []
        for cells in formatted_rows(self.rows, columns):
            tds = "".join(
                f'<td style="text-align:{"right" if c.numeric else "left"}">{esc(t)}</td>'
                for c, t in zip(columns, cells, strict=True)
            )
            body.append(f"<tr>{tds}</tr>")
        lines = "".join(f"<li>{esc(v)}</li>" for v in notes(self.rows))
        said = "".join(f"<p><b>{esc(v)}</b></p>" for v in verdicts(self.rows))
        return (
            f'<div class="dlbench-results"><p>{esc(str(len(self)))} run(s) in '
            f"{esc(str(self.db))}</p>"
            f'<div style="overflow-x:auto"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
            + (f"<ul>{lines}</ul>" if lines else "")
            + said
            + "</div>"
        )


@dataclass
class Comparison:
    """`Results.compare()`: the groups of `dlbench compare`, shown as its table."""

    comparison: Any  # report.comparison.Comparison

    def to_pandas(self):
        """One row per compared value in each group: centre, interval, speedup, verdict."""
        from dlbench.report import comparison

        return _pandas().DataFrame.from_records(comparison.records(self.comparison))

    def __repr__(self) -> str:
        import io

        from rich.console import Console

        from dlbench.report import comparison

        buf = io.StringIO()
        console = Console(file=buf, width=160, color_system=None, force_jupyter=False)
        comparison.print_table(self.comparison, console)
        return buf.getvalue()

    def _repr_html_(self) -> str:
        from dlbench.report import comparison

        esc = html.escape
        comp = self.comparison
        head = "".join(f"<th>{esc(h)}</th>" for h in comparison.headers(comp))
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
            for row in comparison.text_rows(comp)
        )
        notes = "".join(f"<li>{esc(n)}</li>" for n in comparison.comparison_notes(comp))
        return (
            f"<p>compare by {esc(comp.by)}: {esc(comp.metric)}</p>"
            f'<div style="overflow-x:auto"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div><ul>{notes}</ul>"
        )
