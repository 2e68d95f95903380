"""Probe records of this machine, made by hand, for the estimate's tests (no probe is run)."""

from __future__ import annotations

from datetime import datetime, timezone

from dlbench.frameworks.gemm_shapes import grid
from dlbench.measure.estimate import boot_id
from dlbench.measure.fingerprint import cpu_model, machine_fingerprint

CALIBRATION = {
    "step_s": 1e-3,
    "sample_s": 2e-6,
    "op_s": 5e-5,
    "eval_step_s": 2e-3,
    "start_s": 0.1,
    "import_s": 1.5,
    "build_s": 0.05,
    "compile_s": 0.0,
    "first_extra_s": 0.2,
    # the calibration models' measured steps (runner/calibrate.py): 2, 2 and 14 ops
    "small_step_s": 1e-3 + 2e-6 * 16 + 5e-5 * 2,
    "wide_step_s": 1e-3 + 2e-6 * 256 + 5e-5 * 2,
    "deep_step_s": 1e-3 + 2e-6 * 16 + 5e-5 * 14,
}


def _base(kind: str, **values) -> dict:
    return {
        "kind": kind,
        "device": "cpu",
        "dtype": "float32",
        "threads": None,
        "hostname": machine_fingerprint()["hostname"],
        "cpu": cpu_model(),
        "boot_id": boot_id(),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **values,
    }


def probe_records(frameworks=("torch",), libraries=("torch",), measured_at=None) -> list[dict]:
    """Every probe the estimate needs on the CPU: rates that grow with the product's size,
    a bandwidth that falls from cache to DRAM."""
    rates = {f"{m}x{k}x{n}": min(1e11, 1e4 * m * k * n) for m, k, n in grid()}
    out = [_base("gemm-shapes", library=lib, by_size=rates) for lib in libraries]
    out.append(_base("bandwidth", by_size={"262144": 4e10, "268435456": 1e10}, bytes_per_s=4e10))
    out += [
        _base("calibration", framework=fw, tuning=t, detail=CALIBRATION)
        for fw in frameworks
        for t in ("default", "tuned")
    ]
    out.append(_base("load", library="fashion-mnist", bytes_per_s=1e8))
    if measured_at:
        for r in out:
            r["measured_at"] = measured_at
    return out


def store_probes(store, **kwargs) -> None:
    for r in probe_records(**kwargs):
        store.add_probe(r)
