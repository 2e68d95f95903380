"""docs/reproduction.md: every experiment of the reports beside what dlbench measured.

The reports' own figures are data here (EXPERIMENTS); dlbench's figures come from the database:
for each experiment, the latest finished run that matches its selector and ran on the full
data (no `limit_train`, not synthetic). Each row gets one sentence on agreement, or the reason
for a difference, or why it could not run here. Regenerate with
`dlbench reproduction --db DB --out docs/reproduction.md`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from dlbench.report.stats import spec_field
from dlbench.report.text import pct
from dlbench.store.db import RunRow

AGREE_PP = 1.5  # accuracy within this many percentage points "agrees"


@dataclass(frozen=True)
class Experiment:
    key: str  # A1, B-FCN-100K-X, ...
    title: str
    suite: str  # suites/<file> that reproduces it
    select: dict[str, Any]  # spec fields a run must have
    dataset: str
    acc: float | None = None  # the report's test accuracy (fraction)
    cpu_s: float | None = None  # the report's CPU training time (as it reported it)
    gpu_s: float | None = None
    time_unit: str = "train"  # "train": whole training; "epoch": seconds per epoch
    params: int | None = None
    why: str = ""  # a known reason for a difference, said when accuracy disagrees
    extra: dict[str, Any] = field(default_factory=dict)


def _e(*args: Any, **kwargs: Any) -> Experiment:
    return Experiment(*args, **kwargs)


EXPERIMENTS: tuple[Experiment, ...] = (
    _e(
        "A1-MNIST",
        "Report A 1: MLP on MNIST, Keras",
        "report-a-mlp.yaml",
        {"model": "a-mlp", "dataset": "mnist", "framework": "keras-tf"},
        "mnist",
        cpu_s=3.5,
        gpu_s=5.5,
        time_unit="epoch",
        params=118_282,
    ),
    _e(
        "A1-FMNIST",
        "Report A 1: MLP on Fashion-MNIST, Keras",
        "report-a-mlp.yaml",
        {"model": "a-mlp", "dataset": "fashion-mnist", "framework": "keras-tf"},
        "fashion-mnist",
        cpu_s=4.5,
        gpu_s=6.5,
        time_unit="epoch",
        params=118_282,
    ),
    _e(
        "A1-FMNIST-torch",
        "Report A 1: MLP on Fashion-MNIST, PyTorch",
        "report-a-mlp.yaml",
        {"model": "a-mlp", "dataset": "fashion-mnist", "framework": "torch"},
        "fashion-mnist",
        time_unit="epoch",
        params=118_282,
    ),
    _e(
        "A2-MNIST",
        "Report A 2: deep MLP (10 x 1024) on MNIST",
        "report-a-deep-mlp.yaml",
        {"model": "a-deep-mlp", "dataset": "mnist"},
        "mnist",
        cpu_s=312,
        gpu_s=31,
        params=10_260_490,
    ),
    _e(
        "A2-FMNIST",
        "Report A 2: deep MLP (10 x 1024) on Fashion-MNIST",
        "report-a-deep-mlp.yaml",
        {"model": "a-deep-mlp", "dataset": "fashion-mnist"},
        "fashion-mnist",
        cpu_s=320,
        gpu_s=31,
        params=10_260_490,
    ),
    _e(
        "A3",
        "Report A 3: face CNN, two people",
        "report-a-face-cnn.yaml",
        {"model": "a-face-cnn"},
        "folder:faces",
        acc=30 / 32,
        why="a different pair of people, photographed differently",
    ),
    _e(
        "A4",
        "Report A 4: PyTorch CNN on Fashion-MNIST, 8 epochs",
        "report-a-torch-cnn.yaml",
        {"model": "a-torch-cnn", "dataset": "fashion-mnist", "epochs": 8},
        "fashion-mnist",
        acc=0.886,
        cpu_s=486.2,
        gpu_s=80.5,
        params=28_938,
        why="the report's CPU run reached 85.9% and its GPU run 88.6%: run-to-run noise",
    ),
    _e(
        "B-FCN-50K",
        "Report B: FCN 50K",
        "report-b-fcn.yaml",
        {"model": "b-fcn-50k", "dataset": "fashion-mnist"},
        "fashion-mnist",
        acc=0.8742,
        cpu_s=145.98,
        gpu_s=163.99,
        params=46_580,
    ),
    _e(
        "B-FCN-100K-X",
        "Report B: FCN 100K, Xavier normal init",
        "report-b-fcn.yaml",
        {"model": "b-fcn-100k", "init": "xavier-normal"},
        "fashion-mnist",
        acc=0.8852,
        cpu_s=152.93,
        gpu_s=162.66,
        params=98_490,
    ),
    _e(
        "B-FCN-100K-X-BEST",
        "Report B: FCN 100K, Xavier normal init, weights of the best validation epoch",
        "report-b-fcn.yaml",
        {"model": "b-fcn-100k", "init": "xavier-normal", "keep": "best-val"},
        "fashion-mnist",
        acc=0.8852,
        cpu_s=152.93,
        gpu_s=162.66,
        params=98_490,
        why="the report does not say which epoch's weights it tested",
    ),
    _e(
        "B-FCN-100K",
        "Report B: FCN 100K, default init",
        "report-b-fcn.yaml",
        {"model": "b-fcn-100k", "init": "framework-default"},
        "fashion-mnist",
        acc=0.8782,
        cpu_s=150.35,
        gpu_s=162.41,
        params=98_490,
    ),
    _e(
        "B-FCN-200K",
        "Report B: FCN 200K",
        "report-b-fcn.yaml",
        {"model": "b-fcn-200k"},
        "fashion-mnist",
        acc=0.8880,
        cpu_s=156.82,
        gpu_s=162.94,
        params=199_210,
    ),
    _e(
        "B-CNN-10K",
        "Report B: CNN 10K",
        "report-b-cnn.yaml",
        {"model": "b-cnn-10k"},
        "fashion-mnist",
        acc=0.8929,
        cpu_s=375.81,
        gpu_s=171.49,
        params=9_192,
    ),
    _e(
        "B-CNN-20K",
        "Report B: CNN 20K",
        "report-b-cnn.yaml",
        {"model": "b-cnn-20k"},
        "fashion-mnist",
        acc=0.9070,
        cpu_s=634.19,
        gpu_s=172.56,
        params=19_279,
    ),
    _e(
        "B-CNN-50K",
        "Report B: CNN 50K",
        "report-b-cnn.yaml",
        {"model": "b-cnn-50k"},
        "fashion-mnist",
        acc=0.9122,
        cpu_s=824.14,
        gpu_s=172.62,
        params=49_450,
    ),
    _e(
        "B-CNN-100K",
        "Report B: CNN 100K",
        "report-b-cnn.yaml",
        {"model": "b-cnn-100k"},
        "fashion-mnist",
        acc=0.9070,
        cpu_s=1431.10,
        gpu_s=178.46,
        params=97_395,
    ),
    _e(
        "C-K1",
        "Report C K1: Keras CNN, 12 epochs, batch 128",
        "report-c-keras-torch.yaml",
        {"model": "c-keras-cnn", "epochs": 12, "optimizer": "adam"},
        "mnist",
        acc=0.824,
        cpu_s=26_414,
        gpu_s=1155,
        params=1_199_882,
        why="the report's slow climb is Adadelta at lr 0.001 (the adadelta row reproduces it); "
        "with Adam the same network reaches about 99%",
    ),
    _e(
        "C-K1-adadelta",
        "Report C K1, faithful optimizer (Adadelta lr 0.001)",
        "report-c-keras-torch.yaml",
        {"model": "c-keras-cnn", "epochs": 12, "optimizer": "adadelta"},
        "mnist",
        acc=0.824,
        cpu_s=26_414,
        gpu_s=1155,
        params=1_199_882,
    ),
    _e(
        "C-K2",
        "Report C K2: Keras CNN, 6 epochs, batch 100",
        "report-c-keras-torch.yaml",
        {"model": "c-keras-cnn", "epochs": 6, "optimizer": "adam"},
        "mnist",
        acc=0.786,
        gpu_s=872,
        params=1_199_882,
        why="Adadelta at lr 0.001 in the report, Adam here (see K1)",
    ),
    _e(
        "C-P1",
        "Report C P1: PyTorch CNN, 12 epochs",
        "report-c-keras-torch.yaml",
        {"model": "c-torch-cnn", "epochs": 12},
        "mnist",
        acc=0.9904,
        gpu_s=106,
        params=28_938,
    ),
    _e(
        "C-P2",
        "Report C P2: PyTorch CNN, 6 epochs",
        "report-c-keras-torch.yaml",
        {"model": "c-torch-cnn", "epochs": 6, "lr": 0.001},
        "mnist",
        acc=0.9861,
        gpu_s=305.8,
        params=28_938,
    ),
    *(
        _e(
            f"C-lr-{lr}",
            f"Report C: P2 at lr {lr}",
            "report-c-lr-sweep.yaml",
            {"model": "c-torch-cnn", "lr": lr},
            "mnist",
            acc=acc,
        )
        for lr, acc in ((0.002, 0.9855), (0.02, 0.9910), (0.2, 0.9644))
    ),
    *(
        _e(
            f"C-width-{w}",
            f"Report C: P2 with widths {w}",
            "report-c-width-sweep.yaml",
            {"model": m},
            "mnist",
            acc=acc,
            gpu_s=t,
        )
        for w, m, acc, t in (
            ("16-32", "c-torch-cnn", 0.9910, 341),
            ("32-64", "c-torch-cnn-32-64", 0.9904, 533),
            ("48-96", "c-torch-cnn-48-96", 0.9851, 672),
            ("64-128", "c-torch-cnn-64-128", 0.9798, 816),
        )
    ),
    *(
        _e(
            f"C-dropout-{r}",
            f"Report C: P2 with dropout {r}",
            "report-c-dropout-sweep.yaml",
            {"model_name": f"c-torch-cnn-dropout-{r}"},
            "mnist",
            acc=acc,
        )
        for r, acc in ((0.02, 0.9887), (0.05, 0.9868), (0.15, 0.9822), (0.3, 0.9805))
    ),
    _e(
        "C-final",
        "Report C: final model",
        "report-c-final.yaml",
        {"model": "c-final-cnn"},
        "mnist",
        why="the report's double softmax is not repeated here",
    ),
    _e(
        "D",
        "Report D: TensorFlow MLP on Fashion-MNIST, 10 epochs",
        "report-d-mlp.yaml",
        {"model": "d-mlp", "dataset": "fashion-mnist", "framework": "keras-tf"},
        "fashion-mnist",
        acc=0.8738,
        cpu_s=82.29,
        gpu_s=48.15,
        params=101_770,
    ),
    _e(
        "D-torch",
        "Report D's MLP in PyTorch",
        "report-d-mlp.yaml",
        {"model": "d-mlp", "dataset": "fashion-mnist", "framework": "torch"},
        "fashion-mnist",
        acc=0.8738,
        params=101_770,
    ),
    _e(
        "E",
        "Report E: CIFAR-10 ANN, SGD, sigmoid outputs",
        "report-e-ann.yaml",
        {"model": "e-ann", "dataset": "cifar10"},
        "cifar10",
        cpu_s=44,
        gpu_s=3.6,
        time_unit="epoch",
        params=12_230_010,
    ),
)


def _matches(row: RunRow, exp: Experiment) -> bool:
    if not exp.dataset.startswith("folder:") and row["dataset"] != exp.dataset:
        return False
    if exp.dataset.startswith("folder:") and not str(row["dataset"]).startswith("folder:"):
        return False
    # keep: which weights were tested; a last-epoch figure never counts a best-val run
    return all(spec_field(row, k) == v for k, v in {"keep": "last", **exp.select}.items())


def _full(row: RunRow) -> bool:
    spec = row.spec
    return (
        row["status"] in ("finished", "diverged")
        and not row["synthetic"]
        and spec.get("limit_train") is None
        and spec.get("limit_test") is None
    )


def _seconds(row: RunRow, unit: str) -> float | None:
    return row["steady_epoch_s"] or row["first_epoch_s"] if unit == "epoch" else row["train_s"]


@dataclass(frozen=True)
class Measured:
    """dlbench's figures for one experiment on one kind of device: medians over its runs
    (several seeds give a median, never the luckiest run)."""

    runs: tuple[RunRow, ...]
    acc: float | None
    seconds: float | None
    diverged: RunRow | None

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def time_text(self) -> str:
        """The median time, marked when another process loaded the machine during a run."""
        busy = any(r["noisy"] for r in self.runs)
        return _fmt_s(self.seconds) + (" (busy machine)" if busy and self.seconds else "")


def _measure(rows: list[RunRow], unit: str) -> Measured | None:
    if not rows:
        return None
    finished = [r for r in rows if r["status"] == "finished"]
    accs = [r["test_acc"] for r in finished if r["test_acc"] is not None]
    secs = [s for s in (_seconds(r, unit) for r in finished) if s]
    return Measured(
        tuple(rows),
        statistics.median(accs) if accs else None,
        statistics.median(secs) if secs else None,
        None if finished else rows[-1],
    )


def _fmt_s(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.1f} s" if v < 120 else f"{v / 60:.1f} min"


def _fmt_acc(v: float | None) -> str:
    return pct(v, missing="–")


def _sentence(exp: Experiment, ours: Measured | None, missing: str) -> str:
    if ours is None:
        return missing
    if ours.diverged is not None:
        return (
            f"diverged here ({ours.diverged['message']}); the report's figure is "
            f"{_fmt_acc(exp.acc)}"
        )
    seeds = ""
    if ours.n > 1:
        accs = [r["test_acc"] for r in ours.runs if r["test_acc"] is not None]
        spread = f", {_fmt_acc(min(accs))} to {_fmt_acc(max(accs))}" if len(accs) > 1 else ""
        seeds = f" (median of {ours.n} runs{spread})"
    if exp.acc is None or ours.acc is None:
        return f"the report gives no accuracy to compare; times are this machine's{seeds}"
    diff = 100 * (ours.acc - exp.acc)
    if abs(diff) <= AGREE_PP:
        return f"agrees: {diff:+.1f} points from the report{seeds}"
    reason = exp.why or "different hardware, seed and library versions"
    return f"{diff:+.1f} points from the report{seeds}: {reason}"


def report_speedup(exp: Experiment) -> str:
    """The report's own CPU/GPU speedup, T_cpu / T_gpu from its two times (report D's 1.709),
    or "–" where it timed one device only."""
    if not exp.cpu_s or not exp.gpu_s:
        return "–"
    return f"{exp.cpu_s / exp.gpu_s:.3f}x"


def render(rows: list[RunRow], missing_reason: dict[str, str]) -> str:
    """The whole Markdown page. `missing_reason[dataset]`: why a dataset's runs are absent."""
    lines = [
        "# Reproducing the reports",
        "",
        "Generated by `dlbench reproduction --db DB --out docs/reproduction.md` from the runs of",
        "the suites in `suites/`; do not edit by hand. The reports' figures come from",
        "`../shared/seed-workloads.md` (their own hardware: a GTX 1060, a Titan RTX, cloud GPUs,",
        "Colab); dlbench's are this machine's. Times: training time in all, or seconds per epoch",
        "where the report gave that (marked /ep); dlbench's per-epoch figure is the steady epoch.",
        "Where a configuration ran with several seeds, accuracy and time are medians.",
        "Speedups are T_cpu / T_gpu: the report's from its own two times (below 1: its GPU",
        "was slower), dlbench's from this machine's CPU and GPU runs of the same suite, so that",
        "a run on a machine with a GPU fills the comparison in.",
        "",
        "| experiment | suite | params | report acc | dlbench acc | report CPU | dlbench CPU "
        "| report GPU | dlbench GPU | speedup (report) | speedup (dlbench) | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for exp in EXPERIMENTS:
        matching = [r for r in rows if _matches(r, exp) and _full(r)]
        cpu = _measure([r for r in matching if r["device"] == "cpu"], exp.time_unit)
        gpu = _measure([r for r in matching if str(r["device"]).startswith("cuda")], exp.time_unit)
        unit = " /ep" if exp.time_unit == "epoch" else ""
        ours = cpu or gpu
        speed = "–"
        if cpu and gpu and cpu.seconds and gpu.seconds:
            speed = f"{cpu.seconds / gpu.seconds:.2f}x"
        missing = missing_reason.get(
            exp.dataset.split(":")[0],
            f"not run yet: run `dlbench run suites/{exp.suite}` and regenerate",
        )
        params = (
            f"{ours.runs[0]['params_excl_bn']:,}"
            if ours
            else (f"{exp.params:,}" if exp.params else "–")
        )
        lines.append(
            f"| {exp.key}: {exp.title} | `{exp.suite}` | {params} | {_fmt_acc(exp.acc)} | "
            f"{_fmt_acc(ours.acc if ours else None)} | "
            f"{_fmt_s(exp.cpu_s)}{unit if exp.cpu_s else ''} | "
            f"{cpu.time_text if cpu else '–'}{unit if cpu else ''} | "
            f"{_fmt_s(exp.gpu_s)}{unit if exp.gpu_s else ''} | "
            f"{gpu.time_text if gpu else '–'}{unit if gpu else ''} | "
            f"{report_speedup(exp)} | {speed} | {_sentence(exp, ours, missing)} |"
        )
    lines += ["", "Parameters exclude batch-norm, as the reports counted them.", ""]
    return "\n".join(lines)
