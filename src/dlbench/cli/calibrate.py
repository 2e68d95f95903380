"""`dlbench probe --calibrate`: the estimate's probes (runner/calibrate.py), stored as measured."""

from __future__ import annotations

from pathlib import Path

from dlbench.errors import UserError


def _frameworks(value: str) -> list[str]:
    from dlbench.frameworks import entry, installed, missing_packages

    if value.strip() == "all":
        return installed()
    names = [v.strip() for v in value.split(",") if v.strip()]
    for name in names:
        fw = entry(name)
        if missing_packages(name):
            raise UserError(f"{name} is not installed: {fw.install}")
    return names


def calibrate_cmd(device: str, framework: str, threads: int | None, db: Path) -> None:
    from rich.table import Table

    from dlbench.cli.console import make_console
    from dlbench.runner.calibrate import probe_for_estimate
    from dlbench.runner.process import resolve_device
    from dlbench.store.db import Store, check_db_path

    frameworks = _frameworks(framework)
    check_db_path(db)
    console = make_console()
    table = Table(title=f"the estimate's probes, stored in {db}", header_style="bold")
    for col in ("device", "probe", "of", "figure"):
        table.add_column(col)
    with Store(db) as store:
        for dev in resolve_device("torch", device):

            def keep(r, dev=dev):
                store.add_probe(r)
                table.add_row(dev, r["kind"], _what(r), _figure(r))

            with console.status(f"probing {dev} for the estimate ..."):
                probe_for_estimate(dev, frameworks, threads, on_record=keep)
    console.print(table)
    console.print(
        "[dim]- each probe is stored with this boot's id; `dlbench estimate` flags probes "
        "from another boot or older than a day[/]"
    )


def _what(r: dict) -> str:
    if r["kind"] == "calibration":
        return f"{r['framework']}/{r['tuning']}"
    return r.get("library") or ""


def _figure(r: dict) -> str:
    if r["kind"] == "calibration":
        d = r["detail"]
        return (
            f"step {d['step_s'] * 1e3:.2f} ms + {d['sample_s'] * 1e6:.1f} us/sample + "
            f"{d['op_s'] * 1e6:.0f} us/op + {d.get('per_epoch_s', 0.0) * 1e3:.0f} ms/epoch; "
            f"import {d['import_s']:.1f} s"
        )
    if r["kind"] == "conv-shapes":
        from dlbench.measure.rates import split_conv_rates

        fwd, bwd = (list(rates.values()) for rates in split_conv_rates(r["by_size"]))
        if bwd:
            return (
                f"forward {min(fwd) / 1e9:.2f}-{max(fwd) / 1e9:.0f}, backward "
                f"{min(bwd) / 1e9:.2f}-{max(bwd) / 1e9:.0f} GFLOP/s over {len(fwd)} shapes"
            )
    if r["kind"] in ("gemm-shapes", "conv-shapes"):
        lo, hi = min(r["by_size"].values()), max(r["by_size"].values())
        return f"{lo / 1e9:.2f}-{hi / 1e9:.0f} GFLOP/s over {len(r['by_size'])} shapes"
    if r["kind"] == "layer-rates":
        lo, hi = min(r["by_size"].values()), max(r["by_size"].values())
        from dlbench.measure.rates import parse_layer_key

        keys = [parse_layer_key(key) for key in r["by_size"]]
        kinds, layouts, channels = (sorted({k[i] for k in keys}) for i in range(3))
        return (
            f"{lo / 1e9:.2f}-{hi / 1e9:.0f} GB/s over {len(keys)}: {', '.join(kinds)}; "
            f"{'/'.join(layouts)}; {'/'.join(map(str, channels))} channels"
        )
    return f"{r['bytes_per_s'] / 1e9:.2f} GB/s"
