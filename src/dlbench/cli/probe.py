"""`dlbench probe`: measure this machine's practical peak FLOP/s (a GEMM) and store it."""

from __future__ import annotations

from pathlib import Path

import typer

from dlbench.cli import app
from dlbench.errors import UserError


@app.command("probe")
def probe_cmd(
    device: str = typer.Option(
        "all", "--device", help="cpu, cuda, cuda:N, or all (the CPU and every GPU torch sees)."
    ),
    threads: int = typer.Option(None, "--threads", help="CPU threads (default: every core)."),
    db: Path = typer.Option(Path("dlbench.sqlite"), "--db", help="Results database."),
    calibrate: bool = typer.Option(
        False,
        "--calibrate",
        help="The estimate's probes instead (memory bandwidth, GEMM rate by shape, "
        "per-framework calibration): seconds per framework.",
    ),
    framework: str = typer.Option(
        "all", "--framework", "-f", help="--calibrate: framework(s), comma separated, or all."
    ),
    library: str = typer.Option(
        "all",
        "--library",
        "-l",
        help="GEMM probe on a CPU: torch, jax, tensorflow (comma separated), or all installed; "
        "the fastest is each dtype's peak.",
    ),
) -> None:
    """Measure and store this machine's peak FLOP/s (matrix products), for "% of peak"."""
    if calibrate:
        from dlbench.cli.calibrate import calibrate_cmd

        return calibrate_cmd(device, framework, threads, db)
    from rich.table import Table

    from dlbench.cli.console import make_console
    from dlbench.frameworks import missing_packages
    from dlbench.runner.probe import run_probe
    from dlbench.runner.process import resolve_device
    from dlbench.store.db import Store, check_db_path

    if missing_packages("torch"):
        raise UserError(
            "the probe uses torch, which is not installed: pip install 'dlbench[torch]'"
        )
    check_db_path(db)
    from dlbench.runner.probe import chosen_libraries

    devices = resolve_device("torch", device)
    for dev in devices:  # a wrong --library is said before anything is timed
        chosen_libraries(dev, library)
    console = make_console()
    table = Table(title=f"GEMM probe, stored in {db}", header_style="bold")
    for col in ("device", "name", "dtype", "GFLOP/s", "best size", "threads", "library"):
        table.add_column(
            col, justify="right" if col in ("GFLOP/s", "best size", "threads") else "left"
        )
    done = []
    with Store(db) as store:
        for dev in devices:
            with console.status(f"probing {dev} ..."):
                records = run_probe(dev, threads, library=library)
            for r in records:
                store.add_probe(r)
                done.append(r)
                table.add_row(
                    r["device"],
                    r.get("device_name") or r["cpu"],
                    r["dtype"],
                    f"{r['flops_per_s'] / 1e9:,.1f}",
                    f"{r['size']}",
                    str(r["threads"]),
                    r["library"],
                )
    console.print(table)
    from dlbench.measure.noise import NOISY_PCT

    loads = [r["other_load_pct"] for r in done if r.get("other_load_pct") is not None]
    if loads and max(loads) > NOISY_PCT:
        console.print(
            f"[yellow]- other processes used {max(loads):.0f}% of a CPU core during the probe: "
            "close them and probe again[/]"
        )
    console.print(
        "[dim]- best of several timed matrix products after a warm-up; on a CPU every installed "
        "library is timed (torch, JAX, TensorFlow; --library chooses) and the fastest is each "
        "dtype's peak; runs on "
        "this machine and device read their '% of peak' against the dtype they compute in "
        "(float32, or bfloat16 for --precision bf16-mixed)[/]"
    )
