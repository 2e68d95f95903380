"""Precision: what bf16-mixed buys against float32 on this machine's CPU, and what it costs.

Side by side in one run, on 2 threads:
- speed: bf16-mixed `tuned` against float32 `tuned`, samples/s of the steady epoch, report A's
  deep MLP (a-deep-mlp, 10 x 1024, batch 32) and report B's CNN 100K (b-cnn-100k, batch 512)
  in every installed framework; target: bf16-mixed >= 1.8x float32 in at least one framework;
- accuracy: test accuracy of report A's PyTorch CNN (a-torch-cnn, batch 100, Adam 1e-3) after
  3 epochs, median of 3 seeds in each precision; target: bf16-mixed within 0.5 points;
- where the time goes: the GEMM probe per library and dtype (the most a product-bound model
  can gain is the library's bfloat16 / float32 ratio), each run's FLOP/s against its library's
  GEMM, and a torch.profiler breakdown of torch's steps (products, casts, the rest).

Every training run is a `dlbench run` process (warm-up and compilation untimed, steady epoch =
median of the epochs after the first); the float32 and bf16-mixed runs of a configuration run
one after the other, so a change in the machine's load touches both.

    .venv/bin/python benchmarks/precision.py           # the full run, about 11 minutes
    .venv/bin/python benchmarks/precision.py --quick   # tiny slices: checks that it runs,
                                                       # prints the section, writes nothing
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from common import Timer, load, load_note, runs, table, write

from dlbench.frameworks import missing_packages
from dlbench.measure.fingerprint import cpu_model
from dlbench.runner import probe
from dlbench.spec import PRESETS, make_run, summarize
from dlbench.spec.run import stored_value

THREADS = 2
PRECISIONS = ("float32", "bf16-mixed")
FRAMEWORKS = ("torch", "keras-tf", "keras-jax", "keras-torch")
# the library whose matrix products each framework calls on a CPU
LIBRARY = {"torch": "torch", "keras-torch": "torch", "keras-tf": "tensorflow", "keras-jax": "jax"}
# (model, batch, training images): the slices of benchmarks/headroom.py, 3 epochs
SPEED = [("a-deep-mlp", 32, 3_000), ("b-cnn-100k", 512, 5_120)]
SPEED_EPOCHS = 3
ACCURACY = ("a-torch-cnn", 100, 30_000)  # half of Fashion-MNIST's training set
ACCURACY_EPOCHS = 3
SEEDS = (0, 1, 2)
TARGET_SPEEDUP = 1.8
TARGET_POINTS = 0.5
PROFILE_STEPS = {"a-deep-mlp": 32, "b-cnn-100k": 8}  # about a second of steps each
# torch.profiler's self-time by operator: the products, the casts autocast adds, batch-norm
# (float32 under autocast), and the rest (activations, pooling, the optimizer, the loss)
PRODUCT_OPS = ("mm", "addmm", "bmm", "matmul", "linear", "mkldnn_convolution")
CAST_OPS = ("_to_copy", "copy_", "to", "_autocast_to_reduced_precision")
KINDS = ("products", "casts", "batch-norm", "other")

QUICK = {
    "speed": [("a-deep-mlp", 32, 192), ("b-cnn-100k", 512, 1_024)],
    "speed_epochs": 2,
    "accuracy": ("a-torch-cnn", 100, 1_000),
    "accuracy_epochs": 1,
    "seeds": (0,),
    "profile_steps": {"a-deep-mlp": 4, "b-cnn-100k": 2},
    "probe_sizes": (512,),
}

LIBRARY_NOTE = {
    "torch": "torch calls oneDNN's bfloat16 matmul and convolution kernels (`brg_matmul:"
    "avx512_core_bf16` under ONEDNN_VERBOSE=1), autocast casts each weight to bfloat16 at every "
    "step",
    "tensorflow": "TensorFlow calls oneDNN's bfloat16 kernels, Keras casts each weight and "
    "input to bfloat16 at each layer",
    "jax": "XLA:CPU has no bfloat16 product: it converts both operands to float32, multiplies "
    "in float32 and converts the result back (the compiled HLO of a bfloat16 `dot`), so "
    "bf16-mixed adds casts to the same float32 products",
}


def gemm_probe(sizes=None) -> dict[str, dict[str, dict]]:
    """{library: {dtype: record}}: dlbench probe's figures, each library in its own process."""
    out = {}
    for lib in probe.libraries("cpu"):
        out[lib] = {r["dtype"]: r for r in probe.probe_library("cpu", lib, THREADS, sizes)}
        figures = ", ".join(f"{d} {r['flops_per_s'] / 1e9:.0f}" for d, r in out[lib].items())
        print(f"GEMM {lib}: {figures} GFLOP/s", file=sys.stderr, flush=True)
    return out


def speed(frameworks: list[str], configs, epochs: int) -> list[dict]:
    specs = [
        dict(
            model=model,
            framework=fw,
            batch_size=batch,
            limit_train=n,
            limit_test=500,
            epochs=epochs,
            tuning="tuned",
            threads=THREADS,
            precision=precision,
            seed=0,
        )
        for model, batch, n in configs
        for fw in frameworks
        for precision in PRECISIONS
    ]
    return runs(specs)


def accuracy(config, epochs: int, seeds) -> list[dict]:
    model, batch, n = config
    specs = [
        dict(
            model=model,
            framework="torch",
            batch_size=batch,
            limit_train=n,
            epochs=epochs,
            tuning="tuned",
            threads=THREADS,
            precision=precision,
            seed=seed,
        )
        for seed in seeds
        for precision in PRECISIONS
    ]
    return runs(specs)


def torch_profile(model: str, batch: int, steps: int) -> dict[str, dict[str, float]]:
    """{precision: {KINDS: ms of self CPU time per step}} of torch `tuned`,
    in this process, on random data of the model's input shape (the values do not matter)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from dlbench.frameworks import torch as tb
    from dlbench.frameworks.base import PreparedData

    torch.set_num_threads(THREADS)
    preset = PRESETS[model]
    c, h, w = preset.input_shape
    classes = int(np.prod(summarize(preset.spec, preset.input_shape).output_shape))
    rng = np.random.default_rng(0)
    n = batch * steps
    x = rng.random((n, h, w, c), dtype=np.float32)
    y = rng.integers(0, classes, n)
    data = PreparedData(x, y, x[:0], y[:0], x[:8], y[:8], classes, tuple(map(str, range(classes))))
    out = {}
    for precision in PRECISIONS:
        run = make_run(
            dict(model=model, batch_size=batch, epochs=1, threads=THREADS, precision=precision)
        )
        trainer = tb.Trainer(run, data, "cpu")
        trainer.warm_up()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            trainer.fit(lambda record: True)
        split = dict.fromkeys(KINDS, 0.0)
        for event in prof.key_averages():
            split[op_kind(event.key)] += event.self_cpu_time_total / 1e3 / steps  # us -> ms
        out[precision] = split
        print(f"  profile {model} {precision}: {split}", file=sys.stderr, flush=True)
    return out


def op_kind(key: str) -> str:
    name = key.removeprefix("aten::")
    if name in PRODUCT_OPS or name.startswith("convolution"):  # and convolution_backward
        return "products"
    if name in CAST_OPS:
        return "casts"
    return "batch-norm" if "batch_norm" in name else "other"


def ratio_rows(rows: list[dict], gemms: dict, frameworks: list[str], configs) -> list[dict]:
    """Per model and framework: both precisions' samples/s and their ratio, and each run's
    FLOP/s against its library's GEMM in the dtype it computed in."""
    by = {(r["model"], r["framework"], precision_of(r)): r for r in rows}
    out = []
    for model, batch, n in configs:
        for fw in frameworks:
            f32, b16 = by.get((model, fw, "float32")), by.get((model, fw, "bf16-mixed"))
            lib = gemms.get(LIBRARY[fw], {})

            def of_gemm(r, dtype, lib=lib):
                got = r and r.get("achieved_flops_per_s")
                return got / lib[dtype]["flops_per_s"] if got and dtype in lib else None

            ok = f32 and b16 and f32["samples_per_s"] and b16["samples_per_s"]
            out.append(
                {
                    "model": model,
                    "batch": batch,
                    "train_samples": n,
                    "framework": fw,
                    "float32_samples_per_s": f32 and f32["samples_per_s"],
                    "bf16_samples_per_s": b16 and b16["samples_per_s"],
                    "ratio": b16["samples_per_s"] / f32["samples_per_s"] if ok else None,
                    "float32_of_gemm": of_gemm(f32, "float32"),
                    "bf16_of_gemm": of_gemm(b16, "bfloat16"),
                    "status": f"{f32 and f32['status']}/{b16 and b16['status']}",
                    "message": (f32 and f32.get("message")) or (b16 and b16.get("message")),
                }
            )
    return out


def precision_of(row: dict) -> str:
    return stored_value(row["spec"], "precision")[1]


def pct(x: float | None) -> str:
    return "" if x is None else f"{x:.0%}"


def where_time_goes(model: str, mine: list[dict], gemms: dict, prof: dict | None) -> list[str]:
    """The best and the worst framework of `model`, with what the probe and profile show."""
    done = [r for r in mine if r["ratio"]]
    if not done:
        return [f"- {model}: no framework finished both precisions."]
    best, worst = max(done, key=lambda r: r["ratio"]), min(done, key=lambda r: r["ratio"])
    lines = []
    for label, r in (("best", best), ("worst", worst)):
        lib = LIBRARY[r["framework"]]
        rates = gemms.get(lib, {})
        text = f"- {model}, {label}: {r['framework']} {r['ratio']:.2f}x."
        if "bfloat16" in rates:
            f32, b16 = rates["float32"]["flops_per_s"], rates["bfloat16"]["flops_per_s"]
            text += (
                f" Its library's GEMM ({lib}) runs bfloat16 at {b16 / 1e9:.0f} GFLOP/s against "
                f"{f32 / 1e9:.0f} in float32 ({b16 / f32:.2f}x): the most a product-bound "
                f"model gains; its float32 run reached {pct(r['float32_of_gemm'])} of that "
                f"float32 GEMM, its bf16-mixed run {pct(r['bf16_of_gemm'])} of the bfloat16 "
                f"one. {LIBRARY_NOTE[lib]}."
            )
        if prof and lib == "torch":
            f32p, b16p = prof["float32"], prof["bf16-mixed"]
            text += (
                " torch `tuned`'s steps (torch.profiler; the same kernels), ms in float32 "
                "against bf16-mixed: "
                + ", ".join(f"{kind} {f32p[kind]:.1f} / {b16p[kind]:.1f}" for kind in KINDS)
                + f" (total {sum(f32p.values()):.1f} / {sum(b16p.values()):.1f})."
            )
        lines.append(text)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="tiny slices; print, write nothing")
    args = ap.parse_args()
    cfg = QUICK if args.quick else {}
    configs = cfg.get("speed", SPEED)
    speed_epochs = cfg.get("speed_epochs", SPEED_EPOCHS)
    acc_config = cfg.get("accuracy", ACCURACY)
    acc_epochs = cfg.get("accuracy_epochs", ACCURACY_EPOCHS)
    seeds = cfg.get("seeds", SEEDS)
    frameworks = [fw for fw in FRAMEWORKS if not missing_packages(fw)]
    started = time.perf_counter()
    loads = [load()]

    with Timer() as t_probe:
        gemms = gemm_probe(cfg.get("probe_sizes"))
    peak = {
        dtype: max((lib[dtype] for lib in gemms.values() if dtype in lib),
                   key=lambda r: r["flops_per_s"])
        for dtype in ("float32", "bfloat16")
        if any(dtype in lib for lib in gemms.values())
    }  # fmt: skip
    with Timer() as t_speed:
        speed_runs = speed(frameworks, configs, speed_epochs)
    with Timer() as t_acc:
        acc_runs = accuracy(acc_config, acc_epochs, seeds)
    with Timer() as t_prof:
        steps = cfg.get("profile_steps", PROFILE_STEPS)
        profiles = {model: torch_profile(model, batch, steps[model]) for model, batch, _ in configs}
    loads += [r["loadavg_before"] for r in speed_runs + acc_runs]
    loads += [r["loadavg_after"] for r in speed_runs + acc_runs]
    loads.append(load())

    ratios = ratio_rows(speed_runs, gemms, frameworks, configs)
    verdicts, explained = [], []
    for model, _, _ in configs:
        mine = [r for r in ratios if r["model"] == model]
        best = max((r["ratio"] for r in mine if r["ratio"]), default=None)
        met = "met" if best and best >= TARGET_SPEEDUP else "not met"
        shown = f"{best:.2f}x" if best else "n/a"
        verdicts.append(
            f"- {model}: best bf16-mixed / float32 {shown}; target >= {TARGET_SPEEDUP}x in at "
            f"least one framework: **{met}**."
        )
        explained += where_time_goes(model, mine, gemms, profiles.get(model))

    by_seed: dict[int, dict[str, dict]] = {}
    for r in acc_runs:
        by_seed.setdefault(r["seed"], {})[precision_of(r)] = r
    acc_rows = []
    for seed, pair in sorted(by_seed.items()):
        f32, b16 = pair.get("float32"), pair.get("bf16-mixed")
        a, b = f32 and f32.get("test_acc"), b16 and b16.get("test_acc")
        acc_rows.append(
            [
                seed,
                f"{a:.2%}" if a is not None else f32 and f32["status"],
                f"{b:.2%}" if b is not None else b16 and b16["status"],
                f"{(b - a) * 100:+.2f}" if a is not None and b is not None else "",
                f32 and f32["samples_per_s"],
                b16 and b16["samples_per_s"],
            ]
        )
    accs = {
        p: [r["test_acc"] for r in acc_runs if precision_of(r) == p and r["test_acc"]]
        for p in PRECISIONS
    }
    acc_verdict = "- accuracy: a run did not finish: **not met**."
    median_change = None
    if all(len(v) == len(seeds) for v in accs.values()):
        med = {p: statistics.median(v) for p, v in accs.items()}
        median_change = (med["bf16-mixed"] - med["float32"]) * 100
        met = "met" if abs(median_change) <= TARGET_POINTS else "not met"
        acc_verdict = (
            f"- {acc_config[0]}: median test accuracy {med['float32']:.2%} in float32, "
            f"{med['bf16-mixed']:.2%} in bf16-mixed ({len(seeds)} seeds each): "
            f"{median_change:+.2f} points; target within {TARGET_POINTS} points: **{met}**."
        )
    total_s = time.perf_counter() - started

    model_names = {m for m, _, _ in configs}
    prof_rows = [
        [model, p, steps[model], *(s[kind] for kind in KINDS), sum(s.values())]
        for model, by_p in profiles.items()
        for p, s in by_p.items()
    ]
    slices = ", ".join(f"{m} {n:,} images at batch {b}" for m, b, n in configs)
    section = "\n\n".join(
        [
            "## Precision: bf16-mixed against float32",
            "Command: `.venv/bin/python benchmarks/precision.py` "
            f"({'--quick, ' if args.quick else ''}{total_s / 60:.1f} minutes: probe "
            f"{t_probe.s:.0f} s, speed {t_speed.s:.0f} s, accuracy {t_acc.s:.0f} s, profile "
            f"{t_prof.s:.0f} s). CPU: {cpu_model()}, {THREADS} threads. Every training run is "
            "a `dlbench run` process, `tuned`, the float32 and bf16-mixed runs of a row one "
            "after the other.",
            "GEMM probe (`dlbench probe`'s rule: square products 512-2048, best size; GFLOP/s); "
            "the peak of a dtype is its fastest library's:",
            table(
                ["library", "float32", "bfloat16", "bfloat16 / float32"],
                [
                    [
                        lib,
                        r["float32"]["flops_per_s"] / 1e9,
                        r["bfloat16"]["flops_per_s"] / 1e9 if "bfloat16" in r else None,
                        r["bfloat16"]["flops_per_s"] / r["float32"]["flops_per_s"]
                        if "bfloat16" in r
                        else None,
                    ]
                    for lib, r in gemms.items()
                ],
            ),
            f"### Speed ({slices}; {speed_epochs} epochs, steady = median after the first)",
            "*of GEMM*: the run's training FLOP/s (measure/work.py) against the GEMM of the "
            "library its framework calls, in the dtype it computed in.",
            table(
                [
                    "model",
                    "framework",
                    "float32 samples/s",
                    "bf16-mixed samples/s",
                    "bf16 / float32",
                    "float32 of GEMM",
                    "bf16 of GEMM",
                    "status",
                ],
                [
                    [
                        r["model"],
                        r["framework"],
                        r["float32_samples_per_s"],
                        r["bf16_samples_per_s"],
                        f"{r['ratio']:.2f}x" if r["ratio"] else "",
                        pct(r["float32_of_gemm"]),
                        pct(r["bf16_of_gemm"]),
                        r["status"],
                    ]
                    for r in ratios
                ],
            ),
            "\n".join(verdicts),
            "### Where the time goes (best and worst framework per model)",
            "\n".join(explained),
            "torch.profiler, torch `tuned`, one epoch of random data in the benchmark's process "
            "after a warm-up, self CPU time per step (ms): products (mm, addmm, convolutions "
            "and their backward), casts (`to`, `copy_`), batch-norm (forward and backward), "
            "the rest (activations, pooling, the optimizer, the loss):",
            table(["model", "precision", "steps", *KINDS, "total"], prof_rows),
            f"### Accuracy ({acc_config[0]}, torch, Fashion-MNIST, first {acc_config[2]:,} "
            f"training images, full test set, batch {acc_config[1]}, Adam 1e-3, "
            f"{acc_epochs} epochs)",
            table(
                [
                    "seed",
                    "float32 test acc",
                    "bf16-mixed test acc",
                    "change (points)",
                    "float32 samples/s",
                    "bf16-mixed samples/s",
                ],
                acc_rows,
            ),
            acc_verdict,
            load_note(loads),
        ]
    )
    data = {
        "quick": args.quick,
        "threads": THREADS,
        "cpu": cpu_model(),
        "gemms": gemms,
        "peak": peak,
        "ratios": ratios,
        "profiles": profiles,
        "accuracy_runs": [
            {k: r.get(k) for k in ("seed", "test_acc", "samples_per_s", "status", "message")}
            | {"precision": precision_of(r)}
            for r in acc_runs
        ],
        "median_change_points": median_change,
        "speed_runs": [
            {
                k: r.get(k)
                for k in (
                    "model",
                    "framework",
                    "status",
                    "message",
                    "steady_epoch_s",
                    "samples_per_s",
                    "achieved_flops_per_s",
                    "wall_s",
                    "options",
                )
            }
            | {"precision": precision_of(r)}
            for r in speed_runs
            if r["model"] in model_names
        ],
        "seconds": {
            "total": total_s,
            "probe": t_probe.s,
            "speed": t_speed.s,
            "accuracy": t_acc.s,
            "profile": t_prof.s,
        },
    }
    if args.quick:
        print(section)
    else:
        write("precision", data, section)


if __name__ == "__main__":
    main()
