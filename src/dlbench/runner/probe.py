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
    device: str,
    reps: int = REPS,
    sizes: tuple[int, ...] | None = None,
    library: str = "torch",
    threads: int | None = None,
) -> list[dict]:
    """In the probe's own process: one record per dtype, the best size kept."""
    from dlbench.frameworks.gemm import library as gemm_library

    gemm = gemm_library(library)
    details = _details(device, library, threads)
    records = []
    for dtype, default_sizes in plan(device):
        by_size = {
            size: gemm.flops_per_s(device, dtype, size, reps) for size in sizes or default_sizes
        }
        records.append(record(details, dtype, by_size, gemm.version()))
    return records


def _details(device: str, library: str, threads: int | None) -> dict:
    """The device as the run's fingerprint names it. torch's probe asks torch; JAX's and
    TensorFlow's (the CPU only) do not import torch for it: their threads are the ones the
    process was started with (child_env, and JAX's pinning), every usable core by default."""
    if library == "torch":
        from dlbench.frameworks import adapter

        return adapter("torch").device_details(device)
    from dlbench.frameworks.threads import usable_cores

    return {"device": device, "threads": threads or usable_cores()}


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


def chosen_libraries(device: str, asked: str = "all") -> list[str]:
    """`--library`: "all" (every library `libraries` finds), or names, comma separated,
    each known and installed; a UserError naming the problem and the fix otherwise."""
    from dlbench.errors import UserError
    from dlbench.frameworks import REGISTRY, missing_packages

    if asked == "all":
        return libraries(device)
    names = [n.strip() for n in asked.split(",") if n.strip()]
    for name in names:
        if name not in CPU_LIBRARIES:
            known = ", ".join(CPU_LIBRARIES)
            raise UserError(f"--library {name}: unknown; choose from {known}, or all")
        if device != "cpu" and name != "torch":
            raise UserError(f"--library {name}: the probe times only torch on {device}")
        if missing := missing_packages(CPU_LIBRARIES[name]):
            raise UserError(
                f"--library {name}: {', '.join(missing)} not installed: "
                f"{REGISTRY[CPU_LIBRARIES[name]].install}"
            )
    if not names:
        raise UserError("--library: name at least one library (torch, jax, tensorflow), or all")
    return list(dict.fromkeys(names))


def run_probe(
    device: str,
    threads: int | None = None,
    sizes: tuple[int, ...] | None = None,
    library: str = "all",
):
    """From the CLI: each library (`library`: all, or names) in a fresh process; per dtype
    the best library's record, with every library's figure in `library`; records ready for
    the store."""
    from dlbench.measure.fingerprint import cpu_model, machine_fingerprint
    from dlbench.measure.noise import LoadMeter

    load = LoadMeter.start()
    by_dtype: dict[str, list[dict]] = {}
    for name in chosen_libraries(device, library):
        for r in probe_library(device, name, threads, sizes):
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
        records = measure(job["device"], sizes=sizes, library=library, threads=job.get("threads"))
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(2)
    print(json.dumps(records))


if __name__ == "__main__":
    main()
    exit_now()
