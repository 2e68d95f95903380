"""Scaling: steady epoch time of torch `tuned` against the training-set size (1k to 60k
Fashion-MNIST images, report A's MLP, batch 32) and against the model's width (an MLP of two
hidden layers of width w, 5k images, batch 128), in one process. A least-squares line
epoch_s = fixed + slope * work gives the fixed cost per epoch; R^2 near 1 says the cost grows
linearly with the work. The per-run cost outside the epochs (Trainer build, the data copied
to the device at the start of fit) is timed apart.

    .venv/bin/python benchmarks/scaling.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
from common import load, load_note, table, write

from dlbench.data import load_dataset, normalize
from dlbench.frameworks import torch as tb
from dlbench.frameworks.base import PreparedData
from dlbench.measure.work import train_flops_per_sample
from dlbench.spec import make_run, summarize

THREADS = 2
SIZES = [1_000, 5_000, 20_000, 60_000]
WIDTHS = [64, 128, 256, 512, 1024]


def fit_line(x: list[float], y: list[float]) -> tuple[float, float, float]:
    slope, fixed = np.polyfit(x, y, 1)
    pred = np.polyval([slope, fixed], x)
    r2 = 1 - float(np.sum((np.array(y) - pred) ** 2) / np.sum((np.array(y) - np.mean(y)) ** 2))
    return float(fixed), float(slope), r2


def timed(model, data: PreparedData, batch: int) -> dict:
    run = make_run({"model": model, "epochs": 3, "batch_size": batch, "threads": THREADS})
    t0 = time.perf_counter()
    trainer = tb.Trainer(run, data, "cpu")
    build_s = time.perf_counter() - t0
    records = []
    t0 = time.perf_counter()
    trainer.fit(lambda r: records.append(r) or True)
    fit_s = time.perf_counter() - t0
    epochs = [r.epoch_s for r in records]
    return {
        "build_s": build_s,
        "outside_epochs_s": fit_s - sum(epochs),
        "steady_epoch_s": float(np.median(epochs[1:])),
        "epoch_s": epochs,
        "flops_per_sample": train_flops_per_sample(summarize(run.model_spec(), data.input_shape)),
        "loadavg": load(),
    }


def main() -> None:
    torch.set_num_threads(THREADS)
    ds = load_dataset("fashion-mnist", None)
    x = normalize(ds.x_train, "scale", reference=ds.x_train)

    def data(n: int) -> PreparedData:
        return PreparedData(
            x[:n],
            ds.y_train[:n],
            x[:0],
            ds.y_train[:0],
            x[:64],
            ds.y_train[:64],
            ds.num_classes,
            ds.class_names,
        )

    loads = [load()]
    by_size = []
    for n in SIZES:
        by_size.append({"train_samples": n, **timed("a-mlp", data(n), 32)})
        print(n, by_size[-1]["steady_epoch_s"], flush=True)
    by_width = []
    for w in WIDTHS:
        model = {"builder": "mlp", "widths": [w, w]}
        by_width.append({"width": w, **timed(model, data(5_000), 128)})
        print(w, by_width[-1]["steady_epoch_s"], flush=True)
    loads += [r["loadavg"] for r in by_size + by_width]
    n_fixed, n_slope, n_r2 = fit_line(
        [r["train_samples"] for r in by_size], [r["steady_epoch_s"] for r in by_size]
    )
    gflop = [r["flops_per_sample"] * 5_000 / 1e9 for r in by_width]
    w_fixed, w_slope, w_r2 = fit_line(gflop, [r["steady_epoch_s"] for r in by_width])
    size_rows = [
        [
            r["train_samples"],
            r["steady_epoch_s"],
            r["steady_epoch_s"] / r["train_samples"] * 1e6,
            n_fixed + n_slope * r["train_samples"],
            r["outside_epochs_s"],
            r["build_s"],
        ]
        for r in by_size
    ]
    width_rows = [
        [r["width"], g, r["steady_epoch_s"], w_fixed + w_slope * g, g / r["steady_epoch_s"]]
        for r, g in zip(by_width, gflop, strict=True)
    ]
    section = "\n\n".join(
        [
            "## Scaling: epoch time against the work",
            "Command: `.venv/bin/python benchmarks/scaling.py`. torch `tuned`, "
            f"{THREADS} threads, one process; steady epoch = median of epochs 2-3.",
            "Training-set size (a-mlp, batch 32):",
            table(
                [
                    "train images",
                    "steady epoch s",
                    "us per image",
                    "line s",
                    "per run, outside epochs s",
                    "Trainer build s",
                ],
                size_rows,
            ),
            f"Line: epoch_s = {n_fixed * 1e3:.1f} ms + {n_slope * 1e6:.1f} us x images; "
            f"R^2 = {n_r2:.4f}. Fixed cost per epoch {n_fixed * 1e3:.1f} ms (negative or near "
            "zero: none measurable); the cost per run outside the epochs is the column above.",
            "Model size (MLP [w, w], 5,000 images, batch 128):",
            table(["width", "GFLOP per epoch", "steady epoch s", "line s", "GFLOP/s"], width_rows),
            f"Line: epoch_s = {w_fixed * 1e3:.1f} ms + {w_slope * 1e3:.2f} ms x GFLOP; "
            f"R^2 = {w_r2:.4f}. The fixed part is the per-step cost that does not grow with the "
            "model (Python, per-op dispatch, slicing the batch); 40 steps an epoch here.",
            load_note(loads),
        ]
    )
    write(
        "scaling",
        {
            "by_size": by_size,
            "by_width": by_width,
            "size_line": {"fixed_s": n_fixed, "s_per_image": n_slope, "r2": n_r2},
            "width_line": {"fixed_s": w_fixed, "s_per_gflop": w_slope, "r2": w_r2},
        },
        section,
    )


if __name__ == "__main__":
    main()
