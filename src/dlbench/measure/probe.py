"""The GEMM probe: the practical peak FLOP/s of a device, measured, per machine.

"% of peak" needs a peak; a data-sheet number is not what this machine, with this library and
these threads, can do. The probe times square float32 matrix products (and TF32, bfloat16 on a
GPU) of a few sizes with torch, best of several repetitions after a warm-up, and keeps the best
size: the most a framework gets out of the device on the friendliest work there is. Runs are
then read against it (achieved FLOP/s / probe FLOP/s). It runs in its own process, as runs do,
so the CLI never imports torch; `python -m dlbench.measure.probe` is that process.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

CPU_SIZES = (512, 1024, 2048)
GPU_SIZES = (2048, 4096, 8192)
CPU_DTYPES = ("float32",)
GPU_DTYPES = ("float32", "tf32", "bfloat16")
REPS = 5
PROBE_TIMEOUT_S = 600


def plan(device: str) -> list[tuple[str, tuple[int, ...]]]:
    """(dtype, sizes) to measure on `device`."""
    if device == "cpu":
        return [(d, CPU_SIZES) for d in CPU_DTYPES]
    return [(d, GPU_SIZES) for d in GPU_DTYPES]


def measure(device: str, reps: int = REPS, sizes: tuple[int, ...] | None = None) -> list[dict]:
    """In the probe's own process: one record per dtype, the best size kept."""
    from dlbench.frameworks import adapter

    torch_adapter = adapter("torch")
    details = torch_adapter.device_details(device)
    records = []
    for dtype, default_sizes in plan(device):
        by_size = {}
        for size in sizes or default_sizes:
            by_size[size] = torch_adapter.gemm_flops_per_s(device, dtype, size, reps)
        best = max(by_size, key=by_size.__getitem__)
        records.append(
            {
                "device": details["device"],
                "device_name": details.get("gpu_name"),
                "dtype": dtype,
                "flops_per_s": by_size[best],
                "size": best,
                "by_size": {str(k): v for k, v in by_size.items()},
                "threads": details["threads"],
                "library": f"torch {torch_adapter.versions()['torch']}",
            }
        )
    return records


def run_probe(device: str, threads: int | None = None, sizes: tuple[int, ...] | None = None):
    """From the CLI: the probe in a fresh process; records ready for the store."""
    import subprocess

    from dlbench.errors import UserError
    from dlbench.measure.fingerprint import cpu_model, machine_fingerprint
    from dlbench.measure.noise import LoadMeter
    from dlbench.runner.process import child_env

    job = {"device": device, "sizes": list(sizes) if sizes else None}
    load = LoadMeter.start()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "dlbench.measure.probe"],
            input=json.dumps(job),
            env=child_env("torch", threads),
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"the GEMM probe on {device} took over {PROBE_TIMEOUT_S} s") from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"the GEMM probe on {device} failed: {last}")
    records = json.loads(out.stdout.strip().splitlines()[-1])
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

    job: dict[str, Any] = json.loads(sys.stdin.read())
    sizes = tuple(job["sizes"]) if job.get("sizes") else None
    try:
        records = measure(job["device"], sizes=sizes)
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(2)
    print(json.dumps(records))


if __name__ == "__main__":
    main()
