"""Running the GEMM probe: a process per library (frameworks/gemm/), records for the store.

measure/probe.py says what is measured and how (it imports no framework); here the probe's
process is started, once per library, with that library's run environment (threads), and its
records are combined. `python -m dlbench.runner.probe` is that process.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

from dlbench.child import exit_now
from dlbench.measure.probe import CPU_LIBRARIES, REPS, fastest, plan, record

PROBE_TIMEOUT_S = 600


def measure(
    device: str, reps: int = REPS, sizes: tuple[int, ...] | None = None, library: str = "torch"
) -> list[dict]:
    """In the probe's own process: one record per dtype, the best size kept."""
    from dlbench.frameworks import adapter
    from dlbench.frameworks.gemm import library as gemm_library

    details = adapter("torch").device_details(device)
    gemm = gemm_library(library)
    records = []
    for dtype, default_sizes in plan(device):
        by_size = {
            size: gemm.flops_per_s(device, dtype, size, reps) for size in sizes or default_sizes
        }
        records.append(record(details, dtype, by_size, gemm.version()))
    return records


def probe_library(device: str, library: str, threads: int | None, sizes=None) -> list[dict]:
    """One library's records, measured in a process of its own."""
    from dlbench.errors import UserError
    from dlbench.runner.process import run_python

    job = {"device": device, "sizes": sizes and list(sizes), "library": library, "threads": threads}
    stdout, error = run_python(
        ["-m", "dlbench.runner.probe"], CPU_LIBRARIES[library], threads, PROBE_TIMEOUT_S, job
    )
    if error:
        raise UserError(f"the GEMM probe ({library}) on {device} {error}")
    return json.loads(stdout.strip().splitlines()[-1])


def libraries(device: str) -> list[str]:
    """The libraries the probe times on `device`: torch, and on a CPU the others installed."""
    if device != "cpu":
        return ["torch"]
    from dlbench.frameworks import missing_packages

    return ["torch"] + [
        lib for lib, fw in CPU_LIBRARIES.items() if lib != "torch" and not missing_packages(fw)
    ]


def run_probe(device: str, threads: int | None = None, sizes: tuple[int, ...] | None = None):
    """From the CLI: each library in a fresh process; per dtype the best library's record,
    with every library's figure in `library`; records ready for the store."""
    from dlbench.measure.fingerprint import cpu_model, machine_fingerprint
    from dlbench.measure.noise import LoadMeter

    load = LoadMeter.start()
    by_dtype: dict[str, list[dict]] = {}
    for library in libraries(device):
        for r in probe_library(device, library, threads, sizes):
            by_dtype.setdefault(r["dtype"], []).append(r)
    records = fastest(by_dtype)
    fp = machine_fingerprint()
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    other = load.other_pct()
    for r in records:
        r.update(
            hostname=fp["hostname"],
            cpu=cpu_model(),
            measured_at=now,
            fingerprint=fp,
            other_load_pct=other,
        )
    return records


def main() -> None:
    from dlbench.errors import UserError
    from dlbench.frameworks.gemm import library as gemm_library

    job: dict[str, Any] = json.loads(sys.stdin.read())
    sizes = tuple(job["sizes"]) if job.get("sizes") else None
    library = job.get("library", "torch")
    gemm_library(library).start(job.get("threads"))
    try:
        records = measure(job["device"], sizes=sizes, library=library)
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(2)
    print(json.dumps(records))


if __name__ == "__main__":
    main()
    exit_now()
