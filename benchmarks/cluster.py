"""The Ray executor against the local one: the same suite of 8 single-thread runs through the
local executor (one at a time) and through a 2-node Ray cluster on this machine (127.0.0.1, a
head with no CPUs and two worker nodes of one CPU each); the figure is the ratio of the suites'
wall times (about 0.5-0.6 expected with two nodes on 2 cores), and Ray's added cost per run:
submission to the task starting on its node, the task to the worker process starting, and the
worker's end to the result back on the driver.

    .venv/bin/python benchmarks/cluster.py
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from common import Timer, load, load_note, table, write

RUNS = 8
SPEC = {
    "model": "a-mlp",
    "dataset": "fashion-mnist",
    "framework": "torch",
    "device": "cpu",
    "threads": 1,
    "epochs": 2,
    "limit_train": 6000,
    "limit_test": 1000,
}


def _specs():
    from dlbench.spec import make_run

    return [make_run({**SPEC, "seed": seed}) for seed in range(RUNS)]


def main() -> None:
    from dlbench.runner.execute import execute
    from dlbench.runner.ray_executor import RayExecutor, loopback_cluster

    loads = [load()]
    with tempfile.TemporaryDirectory() as tmp:
        with Timer() as local_t:
            local = execute(_specs(), Path(tmp) / "local.sqlite", save=True)
        loads.append(load())
        cluster = loopback_cluster()
        try:
            executor = RayExecutor(cluster.address)
            with Timer() as ray_t:
                remote = execute(_specs(), Path(tmp) / "ray.sqlite", save=True, executor=executor)
            executor.close()
        finally:
            cluster.shutdown()
        loads.append(load())
    assert local.all_ok and remote.all_ok, "a run failed"
    ray_parts = [r["extra"]["ray"] for r in remote.results]
    # Submission to the task: only the first wave (one run per node) did not wait for a node.
    first = sorted(p["to_task_s"] for p in ray_parts)[:2]
    task_to_run = [p["task_to_run_s"] for p in ray_parts]
    back = [p["run_to_back_s"] for p in ray_parts]
    added = statistics.median(first) + statistics.median(task_to_run) + statistics.median(back)
    ratio = ray_t.s / local_t.s
    local_wall = statistics.median(r["wall_s"] for r in local.results)
    ray_wall = statistics.median(r["wall_s"] for r in remote.results)
    section = "\n\n".join(
        [
            "## Cluster: the Ray executor against the local one",
            f"The same {RUNS} runs (a-mlp, Fashion-MNIST 6,000 training images, 2 epochs, "
            "1 thread, torch) through the local executor (one at a time) and through a 2-node "
            "Ray cluster on this machine (`benchmarks/cluster.py`; weights saved in both, shipped back over "
            "Ray with their SHA-256 in the Ray case).",
            table(
                ["", "local", "Ray, 2 nodes"],
                [
                    ["suite wall s", local_t.s, ray_t.s],
                    ["median run wall s (in the worker)", local_wall, ray_wall],
                ],
            ),
            f"**Ratio of suite wall times (Ray / local): {ratio:.2f}** (expected about "
            "0.5-0.6 with two nodes on 2 cores; above that, the two runs at once compete "
            "with each other and with whatever else runs on the machine).",
            "Ray's added cost per run (medians; submit to task start: the first run on each "
            "node, which waited for no other, Ray starting its worker process included):",
            table(
                [
                    "submit to task start s",
                    "task start to worker start s",
                    "result back s",
                    "total s",
                ],
                [
                    [
                        statistics.median(first),
                        statistics.median(task_to_run),
                        statistics.median(back),
                        added,
                    ]
                ],
            ),
            load_note(loads),
        ]
    )
    write(
        "cluster",
        {
            "runs": RUNS,
            "spec": SPEC,
            "local_suite_s": local_t.s,
            "ray_suite_s": ray_t.s,
            "ratio": ratio,
            "local_run_wall_s": local_wall,
            "ray_run_wall_s": ray_wall,
            "ray_added_s": added,
            "ray_parts": ray_parts,
            "loads": loads,
        },
        section,
    )
    print(section)


if __name__ == "__main__":
    main()
