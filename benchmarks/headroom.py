"""Tuning headroom: `default` (as the framework's tutorials train) against `tuned` (dlbench's
fastest correct way), every installed framework, report A's MLP, CNN and deep MLP and report
B's CNN 100K, on slices of Fashion-MNIST. Each configuration runs as `dlbench run` runs it: its
own process, warm-up and compilation untimed; the figure is the steady epoch (median of the
epochs after the first).

    .venv/bin/python benchmarks/headroom.py
    .venv/bin/python benchmarks/headroom.py --models a-mlp --frameworks torch   # re-run some
"""

from __future__ import annotations

import argparse
import json

from common import RESULTS, load_note, runs, table, write

# (model, batch, training slice, frameworks); keras-torch's `tuned` is its `default` (Keras
# refuses steps_per_execution > 1 on torch), so it is measured on the MLP only, and
# torch-compile on the MLP only (its compile costs more than a CNN slice's training).
CONFIGS = [
    ("a-mlp", 32, 10_000, ["torch", "torch-compile", "keras-tf", "keras-jax", "keras-torch"]),
    # 12k images: 120 steps, so Keras' 32 steps per execution is not one partial execution
    # (on 5k images, keras-tf `tuned` read 0.6-1.0x its `default`; on 60k, 1.15-1.25x)
    ("a-torch-cnn", 100, 12_000, ["torch", "keras-tf", "keras-jax"]),
    ("a-deep-mlp", 32, 3_000, ["torch", "keras-tf", "keras-jax"]),
    ("b-cnn-100k", 512, 5_120, ["torch", "keras-tf", "keras-jax"]),
]
EPOCHS = 3  # the first is kept apart; the steady epoch is the median of the other two


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="")
    ap.add_argument("--frameworks", default="")
    args = ap.parse_args()
    models = set(filter(None, args.models.split(",")))
    fws = set(filter(None, args.frameworks.split(",")))
    specs = []
    for model, batch, n, frameworks in CONFIGS:
        for fw in frameworks:
            if (models and model not in models) or (fws and fw not in fws):
                continue
            for tuning in ("default", "tuned"):
                specs.append(
                    dict(
                        model=model,
                        framework=fw,
                        batch_size=batch,
                        limit_train=n,
                        limit_test=2000,
                        epochs=EPOCHS,
                        tuning=tuning,
                        seed=0,
                    )
                )
    rows = runs(specs)
    keep = (
        "model",
        "framework",
        "tuning",
        "batch_size",
        "train_samples",
        "status",
        "steady_epoch_s",
        "first_epoch_s",
        "samples_per_s",
        "test_acc",
        "compile_s",
        "achieved_flops_per_s",
        "loadavg_before",
        "loadavg_after",
        "options",
    )
    figures = [{k: r.get(k) for k in keep} for r in rows]
    if models or fws:  # a partial run replaces its own rows in the last full one
        fresh = {(r["model"], r["framework"], r["tuning"]) for r in figures}
        saved = json.loads((RESULTS / "headroom.json").read_text())["runs"]
        figures = [r for r in saved if (r["model"], r["framework"], r["tuning"]) not in fresh]
        figures += [{k: r.get(k) for k in keep} for r in rows]
    by = {(r["model"], r["framework"], r["tuning"]): r for r in figures}
    out = []
    for model, batch, _, frameworks in CONFIGS:
        base = by.get((model, "keras-tf", "default"))
        for fw in frameworks:
            d, t = by.get((model, fw, "default")), by.get((model, fw, "tuned"))
            if not d or not t or not d["samples_per_s"] or not t["samples_per_s"]:
                continue
            vs_keras = t["samples_per_s"] / base["samples_per_s"] if base else None
            out.append(
                [
                    model,
                    batch,
                    fw,
                    d["samples_per_s"],
                    t["samples_per_s"],
                    t["samples_per_s"] / d["samples_per_s"],
                    vs_keras,
                    d["test_acc"],
                    t["test_acc"],
                    max(
                        d["loadavg_before"],
                        d["loadavg_after"],
                        t["loadavg_before"],
                        t["loadavg_after"],
                    ),
                ]
            )
    loads = [r["loadavg_before"] for r in figures] + [r["loadavg_after"] for r in figures]
    section = "\n\n".join(
        [
            "## Tuning headroom: `default` vs `tuned`",
            "Command: `.venv/bin/python benchmarks/headroom.py`. Each cell is one `dlbench run` "
            f"process, {EPOCHS} epochs on a slice (10k images for the MLP, 12k for report A's CNN, "
            "5k for report B's CNN 100K, 3k for the deep MLP), steady epoch = median of epochs 2-3; samples/s = training images / "
            "steady epoch. *tuned/default* is the speed-up of `tuned` over the same framework's "
            "`default`; *vs keras-tf default* compares with `model.fit` under Keras' defaults on "
            "TensorFlow. Test accuracy on 2,000 test images shows both train the same model.",
            table(
                [
                    "model",
                    "batch",
                    "framework",
                    "default samples/s",
                    "tuned samples/s",
                    "tuned/default",
                    "tuned vs keras-tf default",
                    "default acc",
                    "tuned acc",
                    "max load",
                ],
                out,
            ),
            load_note(loads),
        ]
    )
    write("headroom", {"epochs": EPOCHS, "runs": figures, "table": out}, section)


if __name__ == "__main__":
    main()
