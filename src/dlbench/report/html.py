"""The HTML report: one self-contained file a person can open from disk, read on a phone, print.

`build_report(db, out)` reads the store (and the runs' artifacts folders for saved models,
evaluations and feature maps), draws every figure with report/figures.py, writes each as PNG
and SVG into `<out stem>_files/` beside the report, and renders templates/report.html.j2.

Self-contained: figures are embedded as `data:` SVG images, the CSS is inline, there is no
script, and a Content-Security-Policy forbids any request but `data:` images; the file makes
no network request. Safe: every user string (model, dataset and class names, paths) is escaped
by Jinja2's autoescape and never marked safe; figures are SVG inside <img>, where no script
runs, and matplotlib escapes the text it writes into SVG.

The sections are computed in report/sections/ (one module per family: summary, compared,
training, models, machine) as page.Section objects, which the template renders; this module
puts them in order and writes the file. Nothing here needs a framework: the sample grid's
predictions come from a child process (report/sections/models.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from dlbench.errors import UserError
from dlbench.report.page import Figures, Section
from dlbench.report.sections.compared import frameworks_section, speedups_section
from dlbench.report.sections.machine import machine_section
from dlbench.report.sections.models import (
    confusions_section,
    feature_maps_section,
    samples_section,
)
from dlbench.report.sections.summary import summary_section
from dlbench.report.sections.training import (
    budget_section,
    crossover_section,
    curves_section,
    time_to_accuracy_section,
)

FILES_MARK = ".dlbench-report"  # marks a figures folder as ours, so a new report may clear it


@dataclass
class ReportResult:
    path: Path
    files: list[Path]  # every figure, PNG and SVG
    runs: int
    notes: list[str]


def _prepare_folder(folder: Path) -> None:
    """Create the figures folder, or clear the figures of an earlier report in it; refuse a
    folder that dlbench did not make."""
    if folder.exists():
        if not folder.is_dir():
            raise UserError(f"{folder} is a file; choose another --out")
        if not (folder / FILES_MARK).exists() and any(folder.iterdir()):
            raise UserError(
                f"{folder} exists and was not made by `dlbench report`; choose another --out "
                "(dlbench never deletes files it did not write)"
            )
        for f in folder.iterdir():
            if f.is_file() and f.suffix in (".png", ".svg"):
                f.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FILES_MARK).write_text("figures of a dlbench report; cleared by the next one\n")


# -- the report -------------------------------------------------------------------------------
def build_report(
    db: Path,
    out: Path,
    *,
    runs: str | None = None,
    data_dir: Path | None = None,
    samples: bool = True,
) -> ReportResult:
    """Write the report for the runs of `db` chosen by `runs` (a --runs filter)."""
    from dlbench.report.machines import machines_compared
    from dlbench.report.precision import precision_section
    from dlbench.report.predicted import predicted_section
    from dlbench.report.select import select_runs
    from dlbench.store.db import Store

    with Store(db, readonly=True) as store:
        rows = select_runs(store.runs(), runs)
    if not rows:
        raise UserError(
            f"{db} holds no runs"
            + (f" matching --runs {runs}" if runs else "")
            + ": run `dlbench run` first, or change --runs"
        )
    out = Path(out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'report.html'}")
    if not out.parent.exists():
        raise UserError(f"--out {out}: folder {out.parent} does not exist; create it first")
    folder = out.with_name(f"{out.stem}_files")
    _prepare_folder(folder)
    figs = Figures(folder)
    sections = [
        summary_section(rows),
        speedups_section(rows, figs),
        frameworks_section(rows, figs),
        precision_section(rows),
        *machines_compared(rows),  # report/machines.py (machines as a dimension)
        time_to_accuracy_section(rows, figs),
        curves_section(rows, figs),
        confusions_section(rows, db, figs),
        budget_section(rows, figs),
        crossover_section(rows, figs),
        predicted_section(rows, figs),
        samples_section(rows, db, figs, data_dir, samples),
        feature_maps_section(rows, db, figs),
        machine_section(rows),
    ]
    html = render(
        sections,
        title="dlbench report",
        subtitle=f"{len(rows)} run(s) from {db}" + (f", --runs {runs}" if runs else ""),
        files_dir=folder.name,
        files=figs.files,
    )
    out.write_text(html, encoding="utf-8")
    notes = [f"{s.title}: {b.text}" for s in sections for b in s.blocks if b.kind == "note"]
    return ReportResult(out, figs.files, len(rows), notes)


def render(
    sections: list[Section], *, title: str, subtitle: str, files_dir: str, files: list[Path]
) -> str:
    """The HTML text. Jinja2 escapes every value; nothing is marked safe."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dlbench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("report.html.j2")
    figures = [b.figures for s in sections for b in s.blocks if b.kind == "figures"]
    return template.render(
        title=title,
        subtitle=subtitle,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        sections=sections,
        figure_count=sum(len(f) for f in figures),
        files_dir=files_dir,
        files=[f.name for f in files],
    )
