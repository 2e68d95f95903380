"""Every GPU path of dlbench, proved in one command: PASS/FAIL per check, figures to
benchmarks/results/gpu_check.json and docs/performance.md's "GPU check" section.

    .venv/bin/python benchmarks/gpu_check.py --device cuda:0    # a GPU machine, <= 8 minutes
    .venv/bin/python benchmarks/gpu_check.py --device cpu       # here: checks 2-5 on the CPU

On a bare GPU machine (torch and jax[cuda12] present, Keras and pydantic missing), carry the
wheels made here by `bash scripts/gpu_wheels.sh --with-data` (.gpu-wheels/, git-ignored):

    pip install --no-index --find-links .gpu-wheels keras pydantic typer rich pyyaml jinja2 psutil
    DLBENCH_DATA=.gpu-wheels PYTHONPATH=src python benchmarks/gpu_check.py --device cuda:0

The checks (issue 18):
1. discovery: every framework that sees the GPU lists it as cuda:0 with its name; JAX's
   platform is `gpu`, not a CPU fallback; the others say why (GPU only);
2. no hidden syncs: torch.profiler counts synchronisations in a 20- and a 40-step epoch of torch
   `tuned` (the same small count) and of keras-torch (against its `host_syncs_per_step`); the
   clock's synchronise really waits (products timed with it and with a no-op: ratio > 10 on a
   GPU), for each framework;
3. precision: each framework's TF32 flags and JAX's matmul precision as dlbench leaves them, and
   the relative error of a 2048^2 float32 product against float64 (~1e-6 IEEE, ~1e-3 TF32);
   on a GPU, `dlbench probe` with float32 < tf32 < bfloat16;
4. memory: a keras-jax run then a torch run, both finish, each with its own peak;
5. end to end: report A's MLP and CNN in torch, torch-compile, keras-jax and keras-torch on the
   device (and the CPU), 3 epochs, each forked from a warm process (runner/warm.py):
   finished, first epoch within 1.5x of steady, GPU energy > 0
   at a plausible power, the fingerprint's GPU name/UUID/driver as nvidia-smi says, and the
   CPU/GPU speedup table. On the CPU the runs use 3,000 images and `tuned` only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

FRAMEWORKS = ["torch", "torch-compile", "keras-jax", "keras-torch"]
CLOCK_FRAMEWORKS = ["torch", "keras-tf", "keras-jax", "keras-torch"]
SYNC_EVENTS = (
    "cudaDeviceSynchronize",
    "cudaStreamSynchronize",
    "cudaEventSynchronize",
    "cudaMemcpy",  # the blocking copy (cudaMemcpyAsync is not one)
)


# -- in a framework's own process --------------------------------------------------------------
def _prepared(n: int, shape=(28, 28, 1), seed: int = 0):
    import numpy as np

    from dlbench.frameworks.base import PreparedData

    rng = np.random.default_rng(seed)
    x = rng.random((n + 200, *shape), dtype=np.float32)
    y = rng.integers(0, 10, n + 200)
    names = tuple(str(i) for i in range(10))
    return PreparedData(x[:n], y[:n], x[:0], y[:0], x[n:], y[n:], 10, names)


def _trainer(framework: str, device: str, n: int, model, tuning: str = "tuned", shape=None):
    from dlbench.frameworks import adapter
    from dlbench.spec import make_run

    run = make_run(
        {
            "model": model,
            "dataset": "digits",
            "framework": framework,
            "device": device,
            "epochs": 1,
            "batch_size": 64,
            "tuning": tuning,
        }
    )
    return adapter(framework).Trainer(run, _prepared(n, shape or (28, 28, 1)), device)


def child_syncs(framework: str, device: str) -> dict:
    """Synchronisations torch.profiler sees in a 20- and a 40-step epoch."""
    from torch.profiler import ProfilerActivity, profile

    out = {}
    for steps in (20, 40):
        t = _trainer(framework, device, steps * 64, "a-mlp")
        t.warm_up()
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device != "cpu" else [])
        with profile(activities=acts) as prof:
            t.fit(lambda r: True)
        counts = {e.key: e.count for e in prof.key_averages() if e.key in SYNC_EVENTS}
        out[str(steps)] = {"syncs": sum(counts.values()), "by_call": counts}
        out["host_syncs_per_step"] = t.options.get("host_syncs_per_step")
    return out


def child_clock(framework: str, device: str) -> dict:
    """The trainer's clock around `reps` products written into a weight: with its synchronise
    the time covers the work; with a no-op only the launches."""
    big = device != "cpu"
    size, reps = (4096, 200) if big else (512, 20)
    shape = (size // 64, 64, 1)  # flatten -> `size` features -> dense(size): a size^2 kernel
    model = {"builder": "mlp", "widths": [size], "name": "square"}
    t = _trainer(framework, device, 64, model, shape=shape)
    if framework.startswith("keras"):
        import keras

        with t._on_device():
            kernel = t.model.get_layer("dense1").kernel
            a = keras.ops.ones((size, size)) * 0.5
            b = keras.random.normal((size, size), seed=0)

            def work():
                for _ in range(reps):
                    kernel.assign(keras.ops.matmul(a, b))
    else:
        import torch

        w = t.net.dense1.weight
        a = torch.ones(size, size, device=w.device) * 0.5
        b = torch.randn(size, size, device=w.device)

        def work():
            with torch.no_grad():
                for _ in range(reps):
                    torch.mm(a, b, out=w)

    from dlbench.measure.clock import SyncClock

    work()  # warm-up
    times = {}
    for name, clock in (("sync", t.clock), ("no_op", SyncClock(None))):
        start = clock.now()
        work()
        times[name] = clock.now() - start
        t.clock.now()  # let the launched work finish before the next timing
    return {"size": size, "reps": reps, **times, "ratio": times["sync"] / times["no_op"]}


def child_precision(framework: str, device: str) -> dict:
    """The TF32 / matmul-precision state dlbench left, and a float32 product's error."""
    import numpy as np

    t = _trainer(framework, device, 64, "a-mlp")  # the trainer sets whatever dlbench sets
    rng = np.random.default_rng(0)
    n = 2048
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    exact = a @ b
    state: dict = {}
    if framework.startswith("keras"):
        import keras

        with t._on_device():
            got = keras.ops.convert_to_numpy(
                keras.ops.matmul(a.astype(np.float32), b.astype(np.float32))
            )
        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            state["jax_default_matmul_precision"] = jax.config.jax_default_matmul_precision
        elif backend == "tensorflow":
            import tensorflow as tf

            state["tf32"] = tf.config.experimental.tensor_float_32_execution_enabled()
    else:
        import torch

        dev = t.device
        got = (
            (
                torch.from_numpy(a.astype(np.float32)).to(dev)
                @ torch.from_numpy(b.astype(np.float32)).to(dev)
            )
            .cpu()
            .numpy()
        )
    if framework in ("torch", "torch-compile", "keras-torch"):
        import torch

        state.update(
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_conv=torch.backends.cudnn.allow_tf32,
            float32_matmul_precision=torch.get_float32_matmul_precision(),
        )
    err = float(np.abs(got - exact).max() / np.abs(exact).max())
    return {"state": state, "rel_error": err}


CHILDREN = {"syncs": child_syncs, "clock": child_clock, "precision": child_precision}


# -- the parent ---------------------------------------------------------------------------------
def in_child(what: str, framework: str, device: str, timeout_s: float = 300) -> dict:
    from dlbench.runner.process import run_python

    args = [str(Path(__file__).resolve()), "--child", what, "--framework", framework]
    stdout, error = run_python([*args, "--device", device], framework, None, timeout_s)
    if error:
        return {"error": error}
    return json.loads(stdout.strip().splitlines()[-1])


def check_discovery(device: str) -> tuple[str, dict]:
    from dlbench.frameworks import REGISTRY
    from dlbench.runner.process import probe_devices, run_python

    if device == "cpu":
        return "SKIP", {"why": "no GPU on this machine: run with --device cuda:0 where one is"}
    seen, ok = {}, True
    for fw in REGISTRY:
        rows = probe_devices(fw)
        seen[fw] = [
            {"device": d.device, "ok": d.available, "name": d.name, "why": d.reason} for d in rows
        ]
        gpu = [d for d in rows if d.device == "cuda:0" and d.available]
        ok &= bool(gpu and gpu[0].name) or any(not d.available and d.reason for d in rows)
    stdout, error = run_python(
        ["-c", "import jax; print(jax.devices()[0].platform)"], "keras-jax", None, 120
    )
    platform = error if error else (stdout.strip().splitlines() or ["?"])[-1]
    ok &= platform == "gpu"
    return ("PASS" if ok else "FAIL"), {"devices": seen, "jax_platform": platform}


def check_syncs(device: str) -> tuple[str, dict]:
    out = {fw: in_child("syncs", fw, device) for fw in ("torch", "keras-torch")}
    out["clock"] = {fw: in_child("clock", fw, device) for fw in CLOCK_FRAMEWORKS}
    ok = all("error" not in v for v in out["clock"].values())
    torch_ = out["torch"]
    ok &= "error" not in torch_ and torch_["20"]["syncs"] == torch_["40"]["syncs"] <= 4
    kt = out["keras-torch"]
    if "error" in kt:
        ok = False
    else:
        growth = (kt["40"]["syncs"] - kt["20"]["syncs"]) / 20
        kt["measured_syncs_per_step"] = growth
        # Keras converts logs on a thread of its own on torch: up to one more per step there.
        ok &= growth <= (kt["host_syncs_per_step"] or 0) + 1
    if device != "cpu":
        ok &= all(v.get("ratio", 0) > 10 for v in out["clock"].values())
    return ("PASS" if ok else "FAIL"), out


def check_precision(device: str) -> tuple[str, dict]:
    out = {fw: in_child("precision", fw, device) for fw in CLOCK_FRAMEWORKS}
    # float32 means IEEE float32 everywhere (TF32 off unless asked): ~1e-6, not ~1e-3.
    ok = all("error" not in v and v["rel_error"] < 1e-4 for v in out.values())
    if device != "cpu":
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "probe.sqlite"
            subprocess.run(
                [sys.executable, "-m", "dlbench", "probe", "--device", device, "--db", str(db)],
                capture_output=True,
                text=True,
                check=False,
            )
            from dlbench.store.db import Store

            with Store(db, readonly=True) as store:
                rates = {
                    p["dtype"]: p["flops_per_s"] for p in store.probes() if p["device"] != "cpu"
                }
        out["probe_flops_per_s"] = rates
        ok &= rates.get("float32", 0) < rates.get("tf32", 0) < rates.get("bfloat16", 0)
    return ("PASS" if ok else "FAIL"), out


def _runs(specs: list[dict]) -> list[dict]:
    from common import runs

    return runs(specs, timeout_s=600)


def check_memory(device: str) -> tuple[str, dict]:
    base = {"model": "a-mlp", "dataset": "fashion-mnist", "device": device, "epochs": 1}
    base |= {"limit_train": 5000, "limit_test": 1000}
    rows = _runs([{**base, "framework": "keras-jax"}, {**base, "framework": "torch"}])
    out = [
        {k: r.get(k) for k in ("framework", "status", "peak_device_bytes", "peak_rss_bytes")}
        | {"resident_data_bytes": (r.get("options") or {}).get("resident_data_bytes")}
        for r in rows
    ]
    ok = all(r["status"] == "finished" for r in out)
    if device != "cpu":
        # Each its own: torch's peak is its model and data, never JAX's pool; JAX's no pool.
        gpu_mem = ((rows[1].get("fingerprint") or {}).get("device") or {}).get("gpu_memory_bytes")
        peaks = [r["peak_device_bytes"] for r in out]
        ok &= all(p for p in peaks) and bool(gpu_mem) and max(peaks) < 0.5 * gpu_mem
    return ("PASS" if ok else "FAIL"), {"runs": out}


def _nvidia_smi() -> list[dict]:
    try:
        text = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,uuid,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [
        dict(zip(("name", "uuid", "driver"), (c.strip() for c in line.split(",")), strict=False))
        for line in text.splitlines()
        if line.strip()
    ]


def check_end_to_end(device: str) -> tuple[str, dict]:
    gpu = device != "cpu"
    devices = [device, "cpu"] if gpu else ["cpu"]
    tunings = ["default", "tuned"] if gpu else ["tuned"]
    base = {"dataset": "fashion-mnist", "epochs": 3}
    if not gpu:
        base |= {"limit_train": 3000, "limit_test": 1000}
    specs = [
        {**base, "model": m, "framework": fw, "device": d, "tuning": tu}
        for m in ("a-mlp", "a-torch-cnn")
        for fw in FRAMEWORKS
        for d in devices
        for tu in tunings
    ]
    rows = _runs(specs)
    smi = _nvidia_smi()
    out, ok = [], True
    for r in rows:
        fp = r.get("fingerprint") or {}
        dev = fp.get("device") or {}
        first, steady = r.get("first_epoch_s"), r.get("steady_epoch_s")
        item = {
            "model": r["model"],
            "framework": r["framework"],
            "device": r["device"],
            "tuning": r["tuning"],
            "status": r["status"],
            "first_epoch_s": first,
            "steady_epoch_s": steady,
            "first_over_steady": first / steady if first and steady else None,
            "gpu_energy_j": r.get("gpu_energy_j"),
            "train_s": r.get("train_s"),
        }
        # A run the noise guard flagged (other processes busy during it) says nothing about
        # warm-up: its first/steady ratio is shown but not judged, and the verdict says so.
        item["noisy"] = bool(r.get("noisy"))
        # Forked from a warm process (runner/warm.py), as every local run is: on a GPU, the
        # proof that a fork of a process that imported the framework starts CUDA cleanly.
        item["forked_warm"] = (r.get("extra") or {}).get("warm_import_s") is not None
        good = r["status"] == "finished" and item["first_over_steady"] is not None
        good = good and item["forked_warm"]
        good = good and (item["noisy"] or item["first_over_steady"] <= 1.5)
        if str(r["device"]).startswith("cuda"):
            watts = (r.get("gpu_energy_j") or 0) / (r.get("train_s") or 1)
            item["gpu_mean_w"] = watts
            limit = ((dev.get("nvml") or {}).get("power_limit_w")) or 1000
            good &= 10 < watts < 1.5 * limit
            want = smi[0] if smi else {}
            item["fingerprint_matches_nvidia_smi"] = bool(want) and (
                dev.get("gpu_name") == want.get("name")
                and str(dev.get("gpu_uuid", "")).lower().removeprefix("gpu-")
                == want.get("uuid", "").lower().removeprefix("gpu-")
                and dev.get("nvidia_driver") == want.get("driver")
            )
            good &= item["fingerprint_matches_nvidia_smi"]
        item["pass"] = bool(good)
        ok &= item["pass"]
        out.append(item)
    speedups = []
    for m in ("a-mlp", "a-torch-cnn"):
        for fw in FRAMEWORKS:
            for tu in tunings:
                t = {
                    i["device"]: i["steady_epoch_s"]
                    for i in out
                    if (i["model"], i["framework"], i["tuning"]) == (m, fw, tu)
                }
                cpu, dev = t.get("cpu"), t.get(device) if gpu else None
                speedups.append([m, fw, tu, cpu, dev, cpu / dev if cpu and dev else None])
    noisy = sum(i["noisy"] for i in out)
    verdict = "PASS" if ok else "FAIL"
    if ok and noisy:
        verdict = "PASS" if noisy < len(out) else "SKIP"  # all noisy: nothing was judged
    figures = {"runs": out, "speedups": speedups, "nvidia_smi": smi, "not_judged_noisy": noisy}
    return verdict, figures


CHECKS = [
    ("1 discovery", check_discovery),
    ("2 no hidden syncs", check_syncs),
    ("3 precision", check_precision),
    ("4 memory", check_memory),
    ("5 end to end", check_end_to_end),
]


def _previous(device: str) -> dict:
    """The last gpu_check results on `device`, or nothing."""
    from common import RESULTS

    try:
        previous = json.loads((RESULTS / "gpu_check.json").read_text())
    except (OSError, ValueError):
        return {}
    return previous if previous.get("device") == device else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0", help="cuda:0 on a GPU machine, or cpu")
    parser.add_argument("--only", default="", help="comma-separated check numbers (default all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--framework", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.framework, args.device), default=str))
        return
    from common import table, write

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    results, started = {}, time.perf_counter()
    if only:  # the checks not rerun keep their last figures (same device), marked as earlier
        results = {
            name: {**r, "earlier": r.get("earlier") or previous.get("measured_at")}
            for previous in [_previous(args.device)]
            for name, r in (previous.get("checks") or {}).items()
            if name.split()[0] not in only
        }
    for name, check in CHECKS:
        if only and name.split()[0] not in only:
            continue
        t0 = time.perf_counter()
        try:
            verdict, figures = check(args.device)
        except Exception as exc:  # noqa: BLE001 - a broken check is a FAIL with its reason
            verdict, figures = "FAIL", {"error": f"{type(exc).__name__}: {exc}"}
        results[name] = {"verdict": verdict, "s": round(time.perf_counter() - t0, 1), **figures}
        noisy = figures.get("not_judged_noisy")
        print(
            f"{verdict:4s}  {name}  ({results[name]['s']} s)"
            + (f": {noisy} run(s) on a busy machine, their warm-up not judged" if noisy else ""),
            flush=True,
        )
    results = dict(sorted(results.items()))
    total_s = time.perf_counter() - started
    e2e = results.get("5 end to end", {})
    speed = table(
        ["model", "framework", "tuning", "CPU s/epoch", "GPU s/epoch", "speedup T_cpu/T_gpu"],
        e2e.get("speedups", []),
    )
    if e2e.get("speedups"):
        print(speed)
    lines = [
        "## GPU check (benchmarks/gpu_check.py)",
        "",
        f"`benchmarks/gpu_check.py --device {args.device}`, {total_s:.0f} s"
        + (
            " (no GPU: checks 2-5 on the CPU paths, a loaded shared machine)"
            if args.device == "cpu"
            else ""
        )
        + ":",
        "",
        table(
            ["check", "verdict", "s", "measured"],
            [
                [n, r["verdict"], r["s"], f"earlier ({r['earlier']})" if r.get("earlier") else ""]
                for n, r in results.items()
            ],
        ),
    ]
    if e2e.get("speedups"):
        lines += ["", "Steady epoch times, end to end (check 5):", "", speed]
    write(
        "gpu_check",
        {"device": args.device, "total_s": total_s, "checks": results},
        "\n".join(lines),
    )
    sys.exit(0 if all(r["verdict"] != "FAIL" for r in results.values()) else 1)


if __name__ == "__main__":
    main()
