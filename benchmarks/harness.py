"""Harness cost: what a `dlbench run` spends outside training. One short run per framework
through the real CLI (`dlbench run --no-save --db <tmp>`), timed from outside, split with the
times the worker stores (import_s, load_s, build_s, compile_s, train_s, test_s, wall_s); and
`dlbench --help` (target < 0.5 s). Last, side by side per framework: how long a process that
has trained one step takes to exit after its last line, through the interpreter's shutdown
and through `dlbench.child.exit_now` (what the worker and every framework child use).

Target (issue 17): a run's own cost outside training and testing, the worker's wall time less
train_s and test_s (importing, loading, building, compiling, the device's details, the
result), at most the framework's import time (import_s) plus 1 s, for every framework on
report A's MLP. The CLI's own start, the plan check and the fingerprint are paid once per
suite and are shown apart ("outside worker").

    .venv/bin/python benchmarks/harness.py
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Timer, load, load_note, median, table, write

DLBENCH = [sys.executable, "-m", "dlbench"]
FRAMEWORKS = ["torch", "keras-tf", "keras-jax", "keras-torch"]
RUN = ["--model", "a-mlp", "--limit-train", "2000", "--limit-test", "1000", "--epochs", "2"]
COLUMNS = ["import_s", "load_s", "build_s", "compile_s", "train_s", "test_s", "wall_s"]
TARGET_OVER_IMPORT_S = 1.0  # per run, outside training and testing: import_s + this at most


def timed(args: list[str]) -> float:
    with Timer() as t:
        subprocess.run(args, cwd=ROOT, capture_output=True, check=True)
    return t.s


# One Adam step of a tiny model (so the optimizer, and torch's dynamo, are loaded as in a run),
# then the time of day on stdout, then the end: the parent times from that line to the exit.
STEP = {
    "torch": "import torch, torch._dynamo\n"
    "m = torch.nn.Linear(4, 4); o = torch.optim.Adam(m.parameters())\n"
    "m(torch.ones(2, 4)).sum().backward(); o.step()\n",
    "keras": "import keras, numpy as np\n"
    "m = keras.Sequential([keras.layers.Dense(4)]); m.compile('adam', 'mse')\n"
    "m.fit(np.ones((8, 4)), np.ones((8, 4)), verbose=0)\n",
}
SHUTDOWN_REPS = 3


def exit_time(framework: str, fast: bool) -> float:
    """Seconds from a child's last line to its exit (`fast`: through exit_now)."""
    from dlbench.runner.process import child_env

    code = STEP["torch" if framework == "torch" else "keras"]
    code += "import sys, time\nsys.stdout.write(repr(time.time()))\n"
    code += "from dlbench.child import exit_now\nexit_now()\n" if fast else "sys.stdout.flush()\n"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=child_env(framework, None),
        capture_output=True,
        text=True,
        check=True,
    )
    return time.time() - float(proc.stdout)


def shutdown_rows() -> tuple[list[list], list[dict]]:
    rows, figures = [], []
    for fw in FRAMEWORKS:
        normal, fast = [], []
        for _ in range(SHUTDOWN_REPS):  # alternated, so drift falls on both alike
            normal.append(exit_time(fw, False))
            fast.append(exit_time(fw, True))
        figures.append({"framework": fw, "normal_s": normal, "exit_now_s": fast})
        rows.append([fw, median(normal), median(fast), median(normal) - median(fast)])
        print(rows[-1], flush=True)
    return rows, figures


WARM_SUITE = [("torch", 4), ("keras-tf", 4)]
WARM_RUN = ["a-mlp", "digits", "1 epoch", "512 training images"]
WARM_REPS = 2


def warm_suite() -> tuple[list[list], dict]:
    """The same suite, fresh processes against warm ones, side by side."""
    from dlbench.runner.execute import LocalExecutor, execute
    from dlbench.spec import make_run

    runs = [
        make_run(
            {
                "model": "a-mlp",
                "dataset": "digits",
                "framework": fw,
                "epochs": 1,
                "threads": 1,
                "limit_train": 512,
                "limit_test": 256,
                "seed": i,
            }
        )  # fmt: skip
        for fw, n in WARM_SUITE
        for i in range(n)
    ]
    walls: dict[str, list[float]] = {"fresh": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(WARM_REPS):
            for how in ("fresh", "warm"):
                db = Path(tmp) / f"{how}-{rep}.sqlite"
                with Timer() as t:
                    out = execute(runs, db, save=False, executor=LocalExecutor(warm=how == "warm"))
                assert out.all_ok, [r.message for r in out.results]
                walls[how].append(t.s)
                print(how, f"{t.s:.1f} s", flush=True)
    fresh, warm = median(walls["fresh"]), median(walls["warm"])
    each = " / ".join(", ".join(f"{w:.1f}" for w in walls[how]) for how in ("fresh", "warm"))
    rows = [[f"median of {WARM_REPS}", fresh, warm, f"{fresh / warm:.2f}x", each]]
    return rows, {"suite": WARM_SUITE, "walls_s": walls}


def main() -> None:
    loads = [load()]
    help_s = [timed([str(ROOT / ".venv/bin/dlbench"), "--help"]) for _ in range(5)]
    rows, figures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for fw in FRAMEWORKS:
            db = Path(tmp) / f"{fw}.sqlite"
            cli_s = timed(DLBENCH + ["run", *RUN, "--framework", fw, "--no-save", "--db", str(db)])
            loads.append(load())
            con = sqlite3.connect(db)
            query = f"select {', '.join(COLUMNS)}, json_extract(extra_json, '$.warm_import_s')"
            *values, warm_import_s = con.execute(query + " from runs").fetchone()
            got = dict(zip(COLUMNS, values, strict=True))
            con.close()
            if warm_import_s is not None:
                # Forked from a warm process (runner/warm.py), which imported the framework
                # first: a one-run suite's run waits for it, so it counts as the run's here.
                got["import_s"] = warm_import_s
                got["wall_s"] += warm_import_s
            first = got["import_s"] + got["load_s"] + got["build_s"] + got["compile_s"]
            outside = cli_s - got["wall_s"]
            after = got["wall_s"] - first - got["train_s"]
            per_run = got["wall_s"] - got["train_s"] - (got["test_s"] or 0.0)
            met = per_run <= got["import_s"] + TARGET_OVER_IMPORT_S
            figures.append(
                {
                    "framework": fw,
                    "cli_wall_s": cli_s,
                    **got,
                    "to_first_step_in_worker_s": first,
                    "outside_worker_s": outside,
                    "after_last_step_in_worker_s": after,
                    "per_run_outside_train_test_s": per_run,
                    "target_s": got["import_s"] + TARGET_OVER_IMPORT_S,
                    "target_met": met,
                    "loadavg": loads[-1],
                }
            )
            rows.append(
                [
                    fw,
                    cli_s,
                    outside,
                    got["import_s"],
                    got["load_s"],
                    got["build_s"],
                    got["compile_s"],
                    got["train_s"],
                    after,
                    (cli_s - got["train_s"]) / cli_s,
                    per_run,
                    f"{per_run - got['import_s']:.2f} s: {'met' if met else 'not met'}",
                ]
            )
            print(rows[-1], flush=True)
    exit_rows, exit_figures = shutdown_rows()
    loads.append(load())
    warm_rows, warm_figures = warm_suite()
    loads.append(load())
    section = "\n\n".join(
        [
            "## Harness cost: `dlbench run` outside training",
            "Command: `.venv/bin/python benchmarks/harness.py`. One run each: "
            f"`dlbench run {' '.join(RUN)} --framework FW --no-save --db <tmp>`, wall time from "
            "outside. *outside worker*: the CLI's own start and imports, checking the plan "
            "(reading the dataset once), the machine fingerprint, starting the worker process, "
            "storing the row, printing the table. Inside the worker, to the first step: import, "
            "load, build, compile (warm-up); after the last step: validation-free test pass and "
            "the result. *import s* is the warm process's (runner/warm.py), which a one-run "
            "suite's only run waits for; it is counted in the worker's time here.",
            table(
                [
                    "framework",
                    "CLI wall s",
                    "outside worker s",
                    "import s",
                    "load s",
                    "build s",
                    "compile s",
                    "train s",
                    "after last step s",
                    "share not training",
                    "per run outside train+test s",
                    f"beyond import s (target <= {TARGET_OVER_IMPORT_S:g})",
                ],
                rows,
            ),
            "*per run outside train+test*: the worker's wall time less train s and test s "
            "(import, load, build, compile, device details, the result), what every run of a "
            "suite pays; target (issue 17): at most the framework's import s plus "
            f"{TARGET_OVER_IMPORT_S:g} s, for every framework: "
            f"**{'met' if all(f['target_met'] for f in figures) else 'not met'}** "
            f"({sum(f['target_met'] for f in figures)} of {len(figures)}). Datasets are read "
            "from the decoded cache (data/decoded.py) that the plan check fills, so load s is "
            "a memory map.",
            f"`dlbench --help`: median {median(help_s):.2f} s of 5 "
            f"({', '.join(f'{s:.2f}' for s in help_s)}); target < 0.5 s: "
            f"**{'met' if median(help_s) < 0.5 else 'not met'}**.",
            "**A process's exit** after one training step, from its last line to its end "
            f"(median of {SHUTDOWN_REPS}, the two ways alternated): the interpreter's shutdown "
            "tears the framework down module by module; `dlbench.child.exit_now`, which the "
            "worker and every framework child call once their result is out, skips it.",
            table(["framework", "shutdown s", "exit_now s", "saved per run s"], exit_rows),
            "**Warm processes** (runner/warm.py): one suite of "
            f"{sum(n for _, n in WARM_SUITE)} short runs "
            f"({', '.join(f'{n} {fw}' for fw, n in WARM_SUITE)}: "
            f"`{' '.join(WARM_RUN)}`, one thread) through `execute`, every run in a fresh "
            "process against every run forked from a warm process per framework (the default), "
            f"the two alternated, {WARM_REPS} times each; wall time of the whole suite.",
            table(["", "fresh s", "warm s", "fresh / warm", "each (fresh / warm) s"], warm_rows),
            load_note(loads),
        ]
    )
    write(
        "harness",
        {
            "help_s": help_s,
            "runs": figures,
            "run_args": RUN,
            "exit": exit_figures,
            "warm": warm_figures,
        },
        section,
    )


if __name__ == "__main__":
    main()
