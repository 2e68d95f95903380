"""The CPU/GPU crossover: from how much work per step does the GPU beat the CPU?

Report A found by hand that "the CPU wins small models, the GPU wins large ones". The
`crossover` suite sweeps MLP width and depth, a CNN and the batch size on every device; here
each configuration becomes a point (work per step = multiply-adds per sample x batch size,
steady epoch time with its 95% interval over repeats), and a line is one framework on one
device for one model family (MLP or CNN) at one batch size: a CNN and a small batch cost more
per multiply-add, so their speedups lie on other curves and are never mixed into one. For each
GPU and line the crossover is the work per step from which the GPU is faster at every larger
point measured, interpolated on log scales between the last point it loses and the first it
wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from dlbench.report.stats import config_key, configurations
from dlbench.store.db import RunRow


@dataclass(frozen=True)
class Point:
    framework: str
    device: str
    model: str
    batch_size: int
    macs_per_step: int  # multiply-adds per sample x batch size
    epoch_s: float  # median steady epoch seconds (the first epoch when there is only one)
    runs: int
    key: str  # the configuration without its device: pairs a CPU point with its GPU points
    kind: str = "mlp"  # cnn when the model has a convolution: its own line in the chart
    lo: float | None = None  # 95% interval of epoch_s over repeats; None for one run
    hi: float | None = None


@dataclass(frozen=True)
class Crossover:
    framework: str
    device: str  # the GPU
    macs_per_step: float | None  # None: not measurable
    text: str  # what a person reads
    kind: str = ""  # the line: mlp or cnn ("" for a framework with no GPU) ...
    batch_size: int | None = None  # ... at this batch size


def points(rows: list[RunRow]) -> list[Point]:
    out = []
    for c in configurations(rows):
        r = c.first
        s = c.summary("steady_epoch_s")
        if s.centre is None:
            s = c.summary("first_epoch_s")
        t = s.centre
        if t is None or not r["macs"] or not r["batch_size"]:
            continue
        out.append(
            Point(
                r["framework"],
                str(r["device"]),
                r["model"],
                int(r["batch_size"]),
                int(r["macs"]) * int(r["batch_size"]),
                t,
                len(c.runs),
                config_key(r, ("device",)),
                _kind(r),
                s.lo,
                s.hi,
            )
        )
    return sorted(out, key=lambda p: (p.framework, p.device, p.macs_per_step))


def _kind(row: RunRow) -> str:
    layers = (row.spec.get("model") or {}).get("layers", [])
    return "cnn" if any(layer.get("type") == "conv2d" for layer in layers) else "mlp"


def human(n: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.3g}"


def crossovers(pts: list[Point]) -> list[Crossover]:
    """One crossing per framework, GPU and line (model family and batch size), or one "no
    GPU" entry per framework."""
    out = []
    for fw in sorted({p.framework for p in pts}):
        mine = [p for p in pts if p.framework == fw]
        cpu = {p.key: p for p in mine if p.device == "cpu"}
        gpus = sorted({p.device for p in mine if p.device != "cpu"})
        if not gpus:
            out.append(Crossover(fw, "-", None, "no GPU: run the suite on a machine with one"))
            continue
        for gpu in gpus:
            lines: dict[tuple[str, int], list[tuple[int, float]]] = {}
            for p in mine:
                if p.device == gpu and p.key in cpu:
                    line = lines.setdefault((p.kind, p.batch_size), [])
                    line.append((p.macs_per_step, cpu[p.key].epoch_s / p.epoch_s))
            if not lines:
                out.append(Crossover(fw, gpu, *_crossing([])))
            for (kind, batch), pairs in sorted(lines.items()):
                x, text = _crossing(sorted(pairs))
                out.append(
                    Crossover(fw, gpu, x, f"{kind.upper()}, batch {batch}: {text}", kind, batch)
                )
    return out


def _crossing(pairs: list[tuple[int, float]]) -> tuple[float | None, str]:
    """(work per step, text) where the speedup T_cpu / T_gpu rises through 1 for good."""
    if not pairs:
        return None, "no configuration ran on both the CPU and this GPU"
    losing = [i for i, (_, s) in enumerate(pairs) if s < 1]
    if not losing:
        return None, f"GPU faster at every size measured (from {human(pairs[0][0])} MACs/step)"
    last = losing[-1]
    if last == len(pairs) - 1:
        return (
            None,
            f"no crossover in range: the CPU is as fast or faster up to {human(pairs[-1][0])} MACs/step",
        )
    (x0, s0), (x1, s1) = pairs[last], pairs[last + 1]
    if x1 == x0 or s1 == s0:
        x = float(x1)
    else:  # log-log interpolation to speedup 1
        f = (0 - math.log(s0)) / (math.log(s1) - math.log(s0))
        x = math.exp(math.log(x0) + f * (math.log(x1) - math.log(x0)))
    return x, f"the GPU beats the CPU from about {human(x)} multiply-adds per step"


def table_rows(pts: list[Point]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per configuration, one time column per device."""
    devices = sorted({p.device for p in pts}, key=lambda d: (d != "cpu", d))
    by_key: dict[tuple[str, str], dict[str, Point]] = {}
    for p in pts:
        by_key.setdefault((p.framework, p.key), {})[p.device] = p
    rows = []
    for (fw, _), per_dev in by_key.items():
        any_p = next(iter(per_dev.values()))
        cells = [fw, any_p.model, str(any_p.batch_size), human(any_p.macs_per_step)]
        for d in devices:
            p = per_dev.get(d)
            cells.append(_time_cell(p) if p else "")
        cpu = per_dev.get("cpu")
        speedups = [
            f"{cpu.epoch_s / per_dev[d].epoch_s:.2f}x"
            for d in devices
            if d != "cpu" and cpu and d in per_dev
        ]
        cells.append(", ".join(speedups) if speedups else "n/a")
        rows.append((any_p.macs_per_step, cells))
    header = ["framework", "model", "batch", "MACs/step"]
    header += [f"{d} s/epoch" for d in devices] + ["speedup (T_cpu/T_gpu)"]
    return header, [c for _, c in sorted(rows, key=lambda t: (t[1][0], t[0]))]


def _time_cell(p: Point) -> str:
    """The epoch time and its 95% interval over repeats, or how many runs it rests on."""
    if p.lo is None or p.hi is None:
        return f"{p.epoch_s:.3f} (1 run)" if p.runs == 1 else f"{p.epoch_s:.3f}"
    return f"{p.epoch_s:.3f} [{p.lo:.3f}, {p.hi:.3f}]"


def print_crossover(rows: list[RunRow], console) -> None:
    from rich.markup import escape
    from rich.table import Table

    pts = points(rows)
    if not pts:
        console.print("[dim]crossover: no finished runs with a steady epoch time[/]")
        return
    header, cells = table_rows(pts)
    table = Table(title="crossover: time per epoch against work per step", header_style="bold")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i < 2 else "right")
    for row in cells:
        table.add_row(*(escape(c) for c in row))
    console.print(table)
    for c in crossovers(pts):
        where = f"{c.framework} on {c.device}" if c.device != "-" else c.framework
        console.print(f"- crossover, {escape(where)}: {escape(c.text)}")


def crossover_figure(pts: list[Point]):
    """Time per epoch against multiply-adds per step, log-log: a colour per device (and
    framework), a line per model kind (MLP solid, CNN dashed) and batch size (its marker),
    since CNNs and small batches cost more per multiply-add. A matplotlib Figure (no pyplot:
    no display needed), for the CLI and the HTML report."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    frameworks = sorted({p.framework for p in pts})
    series = sorted(
        {(p.framework, p.device) for p in pts}, key=lambda t: (t[0], t[1] != "cpu", t[1])
    )
    colours = {s: f"C{i}" for i, s in enumerate(series)}
    batches = sorted({p.batch_size for p in pts})
    markers = {b: "os^Dv<>p"[i % 8] for i, b in enumerate(batches)}
    styles = {"mlp": "-", "cnn": "--"}
    for fw, dev in series:
        for kind in ("mlp", "cnn"):
            for b in batches:
                line = sorted(
                    (
                        p
                        for p in pts
                        if (p.framework, p.device, p.kind, p.batch_size) == (fw, dev, kind, b)
                    ),
                    key=lambda p: p.macs_per_step,
                )
                if line:
                    ax.plot(
                        [p.macs_per_step for p in line],
                        [p.epoch_s for p in line],
                        styles[kind],
                        marker=markers[b],
                        color=colours[(fw, dev)],
                    )
    handles = [
        Line2D([], [], color=colours[s], label=s[1] if len(frameworks) == 1 else f"{s[0]} {s[1]}")
        for s in series
    ]
    handles += [Line2D([], [], color="grey", linestyle=styles[k], label=k.upper()) for k in styles]
    handles += [
        Line2D([], [], color="grey", marker=markers[b], linestyle="", label=f"batch {b}")
        for b in batches
    ]
    ax.legend(handles=handles, fontsize="small")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("multiply-adds per step (MACs per sample x batch size)")
    ax.set_ylabel("steady epoch time (s)")
    ax.set_title("CPU/GPU crossover")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def save_chart(rows: list[RunRow], stem: Path) -> list[Path]:
    """The crossover chart as STEM.png and STEM.svg; returns the paths written."""
    fig = crossover_figure(points(rows))
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=150)
    return paths
