"""`dlbench list models|datasets|frameworks|devices|suites`."""

from __future__ import annotations

import typer

from dlbench.cli import app

list_app = typer.Typer(
    help="List models, datasets, frameworks, devices and suites.", no_args_is_help=True
)
app.add_typer(list_app, name="list")


def _human(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


@list_app.command("models")
def list_models() -> None:
    """Every preset: source, input, parameters and multiply-adds per sample."""
    from rich.table import Table

    from dlbench.cli.console import make_console
    from dlbench.spec.presets import PRESETS

    table = Table(title="model presets (parameters: trainable, as PyTorch and Keras count them)")
    for col in ("name", "source", "input", "params", "params excl. BN", "MACs/sample", "note"):
        table.add_column(col, justify="right" if col.startswith(("params", "MAC")) else "left")
    for p in PRESETS.values():
        s = p.spec.summary(p.input_shape)
        table.add_row(
            p.name,
            p.source,
            "x".join(map(str, p.input_shape)),
            f"{s.params:,}",
            f"{s.params_excl_bn:,}",
            _human(s.macs),
            p.note,
        )
    console = make_console()
    console.print(table)
    console.print(
        "[dim]params excl. BN leaves batch-norm's scale and shift out, as the reports' "
        "budget tables did; MACs count dense and conv multiply-adds (weights only).[/]"
    )


@list_app.command("datasets")
def list_datasets_cmd() -> None:
    """Built-in datasets and where each was found (same as `dlbench data`)."""
    from dlbench.cli.data import data_cmd

    data_cmd(data_dir=None)


@list_app.command("frameworks")
def list_frameworks() -> None:
    """Each framework: installed or not, and its version (nothing is imported)."""
    from importlib import metadata

    from rich.table import Table

    from dlbench.cli.console import make_console
    from dlbench.frameworks import REGISTRY, missing_packages

    table = Table(title="frameworks")
    for col in ("framework", "status", "versions"):
        table.add_column(col)
    for name, fw in REGISTRY.items():
        missing = missing_packages(name)
        versions = []
        for pkg in fw.requires:
            for dist in (pkg, f"{pkg}-cpu"):
                try:
                    versions.append(f"{pkg} {metadata.version(dist)}")
                    break
                except metadata.PackageNotFoundError:
                    continue
        status = (
            "[green]installed[/]"
            if not missing
            else f"[red]missing {', '.join(missing)}[/]: {fw.install}"
        )
        table.add_row(name, status, ", ".join(versions))
    make_console().print(table)


@list_app.command("devices")
def list_devices(
    executor: str = typer.Option(
        "local", "--executor", help="local (this machine) or ray (what a Ray cluster offers)."
    ),
    address: str = typer.Option(
        None, "--address", help="--executor ray: the cluster's HOST:PORT (default: RAY_ADDRESS)."
    ),
) -> None:
    """What each installed framework sees, and why a device is missing."""
    if executor != "local" or address is not None:
        _cluster_devices(executor, address)
        return
    from rich.markup import escape
    from rich.table import Table

    from dlbench.cli.console import make_console
    from dlbench.frameworks import REGISTRY
    from dlbench.runner.process import probe_devices

    table = Table(title="devices per framework")
    for col in ("framework", "device", "available", "name", "memory", "why not"):
        table.add_column(col)
    gpu_seen = False
    for name in REGISTRY:
        for d in probe_devices(name):
            gpu_seen |= d.available and d.device.startswith("cuda")
            mem = f"{d.memory_bytes / 2**30:.1f} GiB" if d.memory_bytes else ""
            table.add_row(
                name,
                d.device,
                "[green]yes[/]" if d.available else "[red]no[/]",
                escape(d.name),
                mem,
                escape(d.reason),
            )
    console = make_console()
    console.print(table)
    if not gpu_seen:
        console.print("No GPU is visible to any framework on this machine: runs use the CPU.")


def _cluster_devices(executor: str, address: str | None) -> None:
    """The nodes of a Ray cluster: what each offers runs, and which kind of machine it is."""
    from rich.markup import escape
    from rich.table import Table

    from dlbench.cli.console import make_console
    from dlbench.errors import UserError

    if executor != "ray":
        raise UserError(f"--executor {executor!r}: choose local or ray (--address needs ray)")
    from dlbench.runner.ray_executor import NODE_RESOURCE, cluster_nodes

    nodes = cluster_nodes(address)
    table = Table(title="Ray cluster nodes")
    for col in ("node", "host", "address", "alive", "CPUs", "GPUs", "CPU runs", "machine"):
        table.add_column(col)
    for n in nodes:
        table.add_row(
            n["node"],
            escape(n["host"]),
            n["address"],
            "[green]yes[/]" if n["alive"] else "[red]no[/]",
            f"{n['cpus']:g}",
            f"{n['gpus']:g}",
            "yes" if n["takes_cpu_runs"] else f"no (no {NODE_RESOURCE})",
            escape(n["machine"]),
        )
    console = make_console()
    console.print(table)
    kinds = {n["machine_key"] for n in nodes if n["machine_key"]}
    console.print(f"{len(kinds)} kind(s) of machine: `--nodes all` runs each run once on each.")


@list_app.command("suites")
def list_suites() -> None:
    """Built-in suites (run them with `dlbench run NAME`)."""
    from dlbench.spec.suite import builtin_suites, load_suite

    for name, path in builtin_suites().items():
        s = load_suite(path)
        typer.echo(f"{name:20s} {len(s.expand())} runs  {s.description}")
