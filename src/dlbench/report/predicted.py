"""The report's "Predicted vs measured" section: every run's stored prediction against its time.

Each run stores the prediction made before it started (in its `extra` JSON, runner/estimate.py),
so the
time model (docs/estimating.md) is held against every measured run, not just a benchmark's.
One point per finished run with both figures: predicted against measured steady epoch time,
log-log, the diagonal and the +-20% target band drawn, and the error per framework and tuning.
"""

from __future__ import annotations

import statistics
from typing import Any

from dlbench.store.db import RunRow

TARGET_ERROR = 0.20  # the estimate's target: median absolute error at most 20% (issue 15)


def pairs(rows: list[RunRow]) -> list[dict[str, Any]]:
    """Runs with a prediction and a measured steady epoch: label, framework, both times."""
    out = []
    for r in rows:
        prediction = (r["extra"] or {}).get("prediction") or {}
        predicted, measured = prediction.get("epoch_s"), r["steady_epoch_s"]
        if r["status"] != "finished" or not predicted or not measured:
            continue
        out.append(
            {
                "id": r.id,
                "label": f"{r['model']} / {r['framework']} / {r['tuning']} / b{r['batch_size']}",
                "framework": r["framework"],
                "tuning": r["tuning"],
                "predicted_s": predicted,
                "measured_s": measured,
                "ratio": predicted / measured,
                "stale": bool(prediction.get("stale")),
                "profile": prediction.get("profile"),
            }
        )
    return out


def predicted_figure(points: list[dict[str, Any]]):
    """Predicted against measured steady epoch, log-log, by framework; y = x and the band."""
    from dlbench.report.figures import _figure, _rc, plain

    with _rc():
        fig = _figure(5.0, 4.2)
        ax = fig.subplots()
        values = [p[k] for p in points for k in ("predicted_s", "measured_s")]
        lo, hi = min(values) / 1.5, max(values) * 1.5
        line = [lo, hi]
        ax.fill_between(
            line,
            [v * (1 - TARGET_ERROR) for v in line],
            [v * (1 + TARGET_ERROR) for v in line],
            color="0.85",
            label=f"within {TARGET_ERROR:.0%}",
        )
        ax.plot(line, line, color="0.4", linewidth=0.8)
        for factor in (0.5, 2.0):
            ax.plot(line, [v * factor for v in line], color="0.6", linewidth=0.6, linestyle="--")
        for i, fw in enumerate(sorted({p["framework"] for p in points})):
            mine = [p for p in points if p["framework"] == fw]
            ax.scatter(
                [p["measured_s"] for p in mine],
                [p["predicted_s"] for p in mine],
                s=16,
                color=f"C{i % 10}",
                label=plain(fw),
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("measured steady epoch (s)")
        ax.set_ylabel("predicted steady epoch (s)")
        ax.legend(fontsize=7)
        fig.suptitle("predicted vs measured (dashed: 2x off)")
    return fig


def predicted_section(rows: list[RunRow], figs):
    """The section, for report/html.py."""
    from dlbench.report.page import Section, Table

    s = Section("predicted", "Predicted vs measured")
    points = pairs(rows)
    if not points:
        s.note(
            "no run carries a prediction: `dlbench probe --calibrate` once, and every later "
            "`dlbench run` stores its prediction beside its result"
        )
        return s
    errors = [abs(p["ratio"] - 1) for p in points]
    worst = max(points, key=lambda p: max(p["ratio"], 1 / p["ratio"]))
    s.p(
        f"The steady epoch `dlbench estimate` predicted before each run, against the one "
        f"measured: {len(points)} run(s), median absolute error "
        f"{statistics.median(errors):.0%}, worst {worst['label']} "
        f"({worst['ratio']:.2f}x). The model: docs/estimating.md."
    )
    s.figures([figs.add(predicted_figure(points), "predicted", "predicted vs measured")])
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in points:
        groups.setdefault((p["framework"], p["tuning"]), []).append(p)
    s.table(
        Table(
            ["framework", "tuning", "runs", "median abs error", "predicted / measured"],
            [
                [
                    fw,
                    tuning,
                    str(len(ps)),
                    f"{statistics.median(abs(p['ratio'] - 1) for p in ps):.0%}",
                    f"{min(p['ratio'] for p in ps):.2f}-{max(p['ratio'] for p in ps):.2f}",
                ]
                for (fw, tuning), ps in sorted(groups.items())
            ],
            [False, False, True, True, True],
        )
    )
    stale = [p for p in points if p["stale"]]
    if stale:
        s.warn(
            f"{len(stale)} prediction(s) used probes from another boot or older than a day: "
            "their errors say as much about the stale probe as about the model"
        )
    return s


def print_predicted(rows: list[RunRow], console) -> None:
    """`results --predicted` and `compare --predicted`: one line per run with a prediction."""
    from rich.markup import escape
    from rich.table import Table as RichTable

    points = pairs(rows)
    if not points:
        console.print(
            "[dim]no run here carries a prediction: `dlbench probe --calibrate`, then run[/]"
        )
        return
    table = RichTable(title="predicted vs measured steady epoch", header_style="bold")
    for col in ("id", "run", "predicted", "measured", "predicted / measured"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for p in points:
        flag = " (stale probes)" if p["stale"] else ""
        table.add_row(
            str(p["id"]),
            escape(p["label"]),
            f"{p['predicted_s']:.3g} s",
            f"{p['measured_s']:.3g} s",
            f"{p['ratio']:.2f}{flag}",
        )
    console.print(table)
    errors = [abs(p["ratio"] - 1) for p in points]
    console.print(
        f"median absolute error {statistics.median(errors):.0%} over {len(points)} run(s)"
    )
