"""The GEMM probe: the practical peak FLOP/s of a device, measured, per machine.

"% of peak" needs a peak; a data-sheet number is not what this machine, with these threads,
can do. The probe times square float32 matrix products (and TF32, bfloat16 on a GPU) of a few
sizes, best of several repetitions after a warm-up, and keeps the best size: the most a
framework gets out of the device on the friendliest work there is. Runs are then read against
it (achieved FLOP/s / probe FLOP/s).

On a CPU every installed library is timed, each in its own process, and the best is the peak:
the libraries' products differ by 2x and more on the same CPU (on this project's AMD EPYC,
torch.mm, which calls Intel MKL, reached 227 GFLOP/s with 2 threads, while JAX's XLA and
TensorFlow's oneDNN reached 482), and a peak taken from the slowest would let "% of peak" pass
100%. On a GPU the probe uses torch (cuBLAS, which the other frameworks call too).
`python -m dlbench.measure.probe` is the probe's process, so the CLI never imports a framework.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

CPU_SIZES = (512, 1024, 2048)
GPU_SIZES = (2048, 4096, 8192)
CPU_DTYPES = ("float32",)
# library -> the framework whose run environment (threads) its process gets
CPU_LIBRARIES = {"torch": "torch", "jax": "keras-jax", "tensorflow": "keras-tf"}
GPU_DTYPES = ("float32", "tf32", "bfloat16")
REPS = 5
PROBE_TIMEOUT_S = 600


def plan(device: str) -> list[tuple[str, tuple[int, ...]]]:
    """(dtype, sizes) to measure on `device`."""
    if device == "cpu":
        return [(d, CPU_SIZES) for d in CPU_DTYPES]
    return [(d, GPU_SIZES) for d in GPU_DTYPES]


def _best_rate(product, wait, size: int, reps: int) -> float:
    """FLOP/s of the fastest of `reps` timed rounds of `product()`; `wait(out)` returns when
    the product `out` is computed. Each round runs enough products to last about 50 ms, so
    that the clock and one launch do not count."""
    import time

    wait(product())  # warm-up: library initialisation, kernel choice, compilation
    start = time.perf_counter()
    wait(product())
    one = time.perf_counter() - start
    inner = max(1, min(1000, int(0.05 / max(one, 1e-9))))
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(inner):
            out = product()
        wait(out)  # the products run in order: the last one done means all are
        best = min(best, (time.perf_counter() - start) / inner)
    return 2 * size**3 / best


def _cpu_gemm(library: str, size: int, reps: int) -> tuple[float, str]:
    """FLOP/s of float32 size x size products on the CPU with JAX (XLA) or TensorFlow
    (oneDNN), and the library's name and version."""
    import numpy as np

    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((size, size), dtype=np.float32)
    b_np = rng.standard_normal((size, size), dtype=np.float32)
    if library == "jax":
        import jax
        import jax.numpy as jnp

        cpu = jax.devices("cpu")[0]
        a, b = jax.device_put(a_np, cpu), jax.device_put(b_np, cpu)
        mm = jax.jit(lambda x, y: jnp.matmul(x, y, precision=jax.lax.Precision.HIGHEST))
        rate = _best_rate(lambda: mm(a, b), lambda out: out.block_until_ready(), size, reps)
        return rate, f"jax {jax.__version__}"
    import tensorflow as tf

    with tf.device("/CPU:0"):
        a, b = tf.constant(a_np), tf.constant(b_np)
        # TensorFlow's eager CPU ops return when their result is computed: nothing to wait for
        rate = _best_rate(lambda: tf.linalg.matmul(a, b), lambda out: None, size, reps)
    return rate, f"tensorflow {tf.__version__}"


def measure(
    device: str, reps: int = REPS, sizes: tuple[int, ...] | None = None, library: str = "torch"
) -> list[dict]:
    """In the probe's own process: one record per dtype, the best size kept."""
    from dlbench.frameworks import adapter

    torch_adapter = adapter("torch")
    details = torch_adapter.device_details(device)
    records = []
    for dtype, default_sizes in plan(device):
        by_size = {}
        for size in sizes or default_sizes:
            if library == "torch":
                by_size[size] = torch_adapter.gemm_flops_per_s(device, dtype, size, reps)
                name = f"torch {torch_adapter.versions()['torch']}"
            else:
                by_size[size], name = _cpu_gemm(library, size, reps)
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
                "library": name,
            }
        )
    return records


def probe_library(device: str, library: str, threads: int | None, sizes=None) -> list[dict]:
    """One library's records, measured in a process of its own."""
    from dlbench.errors import UserError
    from dlbench.runner.process import run_python

    job = {"device": device, "sizes": sizes and list(sizes), "library": library, "threads": threads}
    stdout, error = run_python(
        ["-m", "dlbench.measure.probe"], CPU_LIBRARIES[library], threads, PROBE_TIMEOUT_S, job
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
    records = []
    for candidates in by_dtype.values():
        best = max(candidates, key=lambda r: r["flops_per_s"])
        if len(candidates) > 1:
            others = ", ".join(
                f"{r['library'].split()[0]} {r['flops_per_s'] / 1e9:.0f}" for r in candidates
            )
            best = {**best, "library": f"{best['library']} (GFLOP/s: {others})"}
        records.append(best)
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
    library = job.get("library", "torch")
    if library == "jax":
        from dlbench.frameworks.base import pin_to_cpus

        pin_to_cpus(job.get("threads"))
    try:
        records = measure(job["device"], sizes=sizes, library=library)
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(2)
    print(json.dumps(records))


if __name__ == "__main__":
    main()
