"""Runs on a Ray cluster: each run one Ray task that starts the same worker process a local run
starts, on a node that has what the run needs; results, node fingerprints and weights come back
to the driver, which alone writes the database.

Why the task options are what they are:
- `max_retries=0`: Ray retries a task 3 times by default (and a task killed for memory without
  end); a retried run is a different measurement, so a lost run is a `failed` result instead,
  and `--resume` tries it again on purpose.
- A `cpu` run asks for a whole node: the custom resource `dlbench_node` (each worker node offers
  it once) and the CPUs every such node has, so two runs never share a machine's cores. A `cuda`
  run asks for one GPU (Ray sets CUDA_VISIBLE_DEVICES, so the run sees it as cuda:0).
- Ray sets OMP_NUM_THREADS in a task to its `num_cpus` (1 when none): the run's thread count is
  therefore set explicitly (the run's `threads`, or every core of the node, as a local run's
  adapter takes), never inherited from Ray.
- No shared filesystem: weights travel back in the task's result with a SHA-256 computed on the
  node, checked on the driver before the run is stored.
- Offline: usage statistics off, and Ray's usage client pointed at loopback, the dashboard off.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlbench.errors import UserError
from dlbench.runner.execute import Done, Planned, Progress
from dlbench.spec.run import RunSpec

NODE_RESOURCE = "dlbench_node"  # offered once by each node that takes CPU runs
INSTALL = "pip install 'dlbench[ray]'"
# Set before Ray is imported or started: nothing phones home.
QUIET_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
    # Even disabled, Ray's usage client tells its server so, unless pointed elsewhere.
    "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
}
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
CONNECT_TIMEOUT_S = 5.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def quiet() -> None:
    os.environ.update(QUIET_ENV)


def _stay_on_loopback() -> None:
    """Ray swaps a loopback address for this machine's outward IP (where a cluster bound to
    127.0.0.1 does not listen); this switch keeps it on loopback. Ray reads it at import, so
    it must be set before the first `import ray` of the process."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError(f"--executor ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


def _check_reachable(address: str) -> None:
    """An address that nothing answers is bad input: one line, before anything runs."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(
            f"--address {address!r} is not HOST:PORT; give the head's address, e.g. "
            "127.0.0.1:6379 (what `ray start --head` printed)"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise UserError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}): start one with "
            "`ray start --head`, or fix --address / RAY_ADDRESS"
        ) from None


def connect(address: str | None) -> bool:
    """Connect to the cluster at `address` (or RAY_ADDRESS), or start a local Ray instance on
    this machine; True when this call started it."""
    quiet()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address.rpartition(":")[0].strip("[]") in LOOPBACK_HOSTS:
        _stay_on_loopback()
    ray = _ray()
    if ray.is_initialized():
        return False
    import logging

    if address:
        _check_reachable(address)
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(
                f"cannot connect to the Ray cluster at {address}: {exc}; check --address"
            ) from None
        return False
    ray.init(
        include_dashboard=False,
        resources={NODE_RESOURCE: 1},
        log_to_driver=False,
        logging_level=logging.ERROR,
        _node_ip_address="127.0.0.1",
    )
    return True


# -- on the node ---------------------------------------------------------------------------
def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def node_details() -> dict[str, Any]:
    """This node as Ray sees it: its id, address, and the GPUs it offers."""
    import ray

    ctx = ray.get_runtime_context()
    node_id = ctx.get_node_id()
    info = next((n for n in ray.nodes() if n["NodeID"] == node_id), {})
    resources = info.get("Resources", {})
    accel = next((k.split(":", 1)[1] for k in resources if k.startswith("accelerator_type:")), None)
    return {
        "ray_node_id": node_id,
        "ip": info.get("NodeManagerAddress"),
        "gpus": int(resources.get("GPU", 0)),
        "accelerator": accel,
    }


def node_fingerprint() -> dict[str, Any]:
    from dlbench.measure import machine_fingerprint

    return {**machine_fingerprint(), "node": node_details()}


def _run_on_node(
    planned: Planned, data_dir: str | None, timeout_s: float, save: bool
) -> dict[str, Any]:
    """The task: one run in a fresh worker process on this node; its result, the node's
    fingerprint, and its files with their SHA-256."""
    from dlbench.runner.execute import run_one

    entered = time.time()
    for name in THREAD_ENV:  # Ray's, not the run's
        os.environ.pop(name, None)
    run = planned.run
    if run.device == "cpu":
        # Every core of the node, as a local run's adapter takes by default (frameworks/torch).
        run = run.model_copy(update={"threads": run.threads or os.cpu_count() or 1})
    elif run.device.startswith("cuda"):
        run = run.model_copy(update={"device": "cuda:0"})  # the GPU Ray gave this task
    folder = Path(tempfile.mkdtemp(prefix="dlbench-node-")) if save else None
    try:
        started = _now_iso()
        t0 = time.time()
        result = run_one(
            replace(planned, run=run),
            data_dir=Path(data_dir) if data_dir else None,
            artifacts_dir=folder,
            timeout_s=timeout_s,
            progress=Progress(),
        )
        t1 = time.time()
        result["started_at"], result["finished_at"] = started, _now_iso()
        files = []
        if folder is not None:
            for f in sorted(folder.iterdir()):
                data = f.read_bytes()
                files.append((f.name, data, hashlib.sha256(data).hexdigest()))
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return {
        "result": result,
        "fingerprint": node_fingerprint(),
        "files": files,
        "times": {"entered": entered, "run_start": t0, "run_end": t1, "left": time.time()},
    }


# -- on the driver -------------------------------------------------------------------------
LOST = ("NodeDiedError", "WorkerCrashedError", "OutOfMemoryError", "LocalRayletDiedError")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


@dataclass
class _Job:
    planned: Planned
    node_id: str | None  # pinned to this node (--nodes all), or wherever it fits
    machine: str | None  # the kind of machine it is for (--nodes all)
    submitted: float = 0.0


class RayExecutor:
    """The Ray path of runner.execute: the seam's three steps (expand, pending, results)."""

    def __init__(self, address: str | None = None, nodes: str = "any") -> None:
        if nodes not in ("any", "all"):
            raise UserError(f"--nodes {nodes!r}: choose any (wherever a run fits) or all")
        self.address, self.nodes = address, nodes
        self._kinds: dict[str, tuple[str, dict[str, Any]]] = {}  # machine key -> (node, fp)

    # 1. what the runs are, against what the cluster offers (not this machine)
    def expand(self, runs: list[RunSpec]) -> list[RunSpec]:
        from dlbench.frameworks import installed

        connect(self.address)
        ray = _ray()
        totals = ray.cluster_resources()
        gpus = int(totals.get("GPU", 0))
        out = []
        for run in runs:
            frameworks = installed() if run.framework == "all" else [run.framework]
            if not frameworks:
                raise UserError(f"no framework is installed: {INSTALL}")
            for fw in frameworks:
                devices = (
                    (["cpu"] + (["cuda"] if gpus else [])) if run.device == "all" else [run.device]
                )
                for dev in devices:
                    if dev.startswith("cuda") and not gpus:
                        raise UserError(
                            f"{run.label()}: the Ray cluster offers no GPU; use --device cpu, or "
                            "start a node with a GPU (`ray start --num-gpus 1`)"
                        )
                    if dev == "cpu" and not totals.get(NODE_RESOURCE):
                        raise UserError(
                            f"the Ray cluster offers no {NODE_RESOURCE} resource for CPU runs: "
                            f"start its worker nodes with --resources='{{\"{NODE_RESOURCE}\": 1}}' "
                            "(docs/cluster.md)"
                        )
                    out.append(run.model_copy(update={"framework": fw, "device": dev}))
        if self.nodes == "all":
            self._kinds = node_kinds()
        return out

    # 2. what is left to run (--resume), per kind of machine with --nodes all
    def pending(self, planned: list[Planned], store, resume: bool) -> tuple[list[_Job], int]:
        from dlbench.store.db import DONE_STATUSES
        from dlbench.store.machines import machine_key

        if self.nodes == "any":
            done = store.done_run_ids() if resume else set()
            jobs = [_Job(p, None, None) for p in planned if p.run.run_id not in done]
            return jobs, len(planned) - len(jobs)
        done_pairs = set()
        if resume:
            for r in store.runs():
                if r["status"] in DONE_STATUSES:
                    done_pairs.add((r["run_id"], machine_key(r["fingerprint"])))
        jobs, skipped = [], 0
        for p in planned:
            for key, (node_id, _) in self._kinds.items():
                if (p.run.run_id, key) in done_pairs:
                    skipped += 1
                else:
                    jobs.append(_Job(p, node_id, key))
        return jobs, skipped

    def _options(self, job: _Job) -> dict[str, Any]:
        ray = _ray()
        opts: dict[str, Any] = {"max_retries": 0, "retry_exceptions": False}
        if job.planned.run.device.startswith("cuda"):
            opts.update(num_gpus=1, num_cpus=1)
        else:
            opts.update(num_cpus=_cpus_per_node(ray), resources={NODE_RESOURCE: 1})
        if job.node_id:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(job.node_id, soft=False)
        return opts

    # 3. run them all; yield each as it comes back (the caller stores it)
    def results(
        self,
        jobs: list[_Job],
        *,
        db_path: Path,
        data_dir: Path | None,
        timeout_s: float,
        save: bool,
        progress: Progress,
    ) -> Iterator[Done]:
        ray = _ray()
        task = ray.remote(_run_on_node)
        refs: dict[Any, _Job] = {}
        try:
            for job in jobs:
                ref = task.options(**self._options(job)).remote(
                    job.planned, str(data_dir) if data_dir else None, timeout_s, save
                )
                job.submitted = time.time()
                refs[ref] = job
            n = len(refs)
            for i in range(n):
                ready, _ = ray.wait(list(refs), num_returns=1)
                job = refs.pop(ready[0])
                progress.on_start(job.planned, i, n)
                yield self._collect(ray, ready[0], job, db_path)
        finally:
            for ref in refs:  # Ctrl-C or an error: nothing keeps running on the cluster
                ray.cancel(ref, force=True)
            if refs:
                time.sleep(0.5)  # let the cancels reach the nodes before the driver leaves
            self.close()

    def _collect(self, ray, ref, job: _Job, db_path: Path) -> Done:
        from dlbench.runner.execute import artifacts_folder

        received = time.time()
        try:
            payload = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # our own task code raised: a bug, a result
            return Done(job.planned, _lost(f"the Ray task failed: {_first_line(exc)}"), {})
        except ray.exceptions.RayError as exc:
            kind = type(exc).__name__
            why = f"node lost: {kind}: {_first_line(exc)}" if kind in LOST else None
            # Pinned to a kind of machine (--nodes all): that kind's fingerprint, so that
            # --resume knows which run on which machine is still to do.
            fp = self._kinds[job.machine][1] if job.machine in self._kinds else {}
            return Done(job.planned, _lost(why or f"Ray: {kind}: {_first_line(exc)}"), fp)
        result, files, times = payload["result"], payload["files"], payload["times"]
        extra: dict[str, Any] = {
            "ray": {
                "node_id": payload["fingerprint"]["node"]["ray_node_id"],
                "to_task_s": times["entered"] - job.submitted,
                "task_to_run_s": times["run_start"] - times["entered"],
                "run_to_back_s": received - times["run_end"],
            }
        }
        if files:
            folder = artifacts_folder(db_path, job.planned.run)
            try:
                for name, data, sha in files:
                    if hashlib.sha256(data).hexdigest() != sha:
                        raise ValueError(name)
                    (folder / name).write_bytes(data)
                    if name.startswith("weights"):
                        result["weights_path"] = str(folder / name)
                        extra["weights_sha256"] = sha
            except ValueError as exc:
                shutil.rmtree(folder, ignore_errors=True)
                result = _lost(f"{exc} changed on its way from the node (SHA-256 differs)")
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)  # nothing half-written
                raise
        return Done(job.planned, result, payload["fingerprint"], extra)

    def close(self) -> None:
        ray = _ray()
        if ray.is_initialized():
            ray.shutdown()


def _lost(message: str) -> dict[str, Any]:
    return {"status": "failed", "epochs": [], "message": message, "started_at": _now_iso()}


def _cpus_per_node(ray) -> float:
    """The CPUs every node offering dlbench_node has: a CPU run takes them all."""
    cpus = [
        n["Resources"].get("CPU", 0)
        for n in ray.nodes()
        if n.get("Alive") and n["Resources"].get(NODE_RESOURCE)
    ]
    return max(1.0, min(cpus)) if cpus else 1.0


def node_fingerprints() -> list[tuple[str, dict[str, Any]]]:
    """(node id, fingerprint) of every live node that takes runs, each read by a tiny task
    pinned to that node."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ray = _ray()
    nodes = [
        n["NodeID"]
        for n in ray.nodes()
        if n.get("Alive") and (n["Resources"].get(NODE_RESOURCE) or n["Resources"].get("GPU"))
    ]
    probe = ray.remote(node_fingerprint)
    refs = [
        probe.options(
            num_cpus=0,
            max_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote()
        for node in nodes
    ]
    return list(zip(nodes, ray.get(refs), strict=True))


def node_kinds() -> dict[str, tuple[str, dict[str, Any]]]:
    """One node of each kind of machine in the cluster: machine key -> (node id, fingerprint)."""
    from dlbench.store.machines import machine_key

    kinds: dict[str, tuple[str, dict[str, Any]]] = {}
    for node, fp in node_fingerprints():
        kinds.setdefault(machine_key(fp), (node, fp))
    return kinds


def cluster_nodes(address: str | None) -> list[dict[str, Any]]:
    """What the cluster offers, node by node (for `dlbench list devices --executor ray`)."""
    from dlbench.store.machines import machine_key, machine_label

    connect(address)
    ray = _ray()
    try:
        fps = dict(node_fingerprints())
        rows = []
        for n in ray.nodes():
            res = n.get("Resources", {})
            fp = fps.get(n["NodeID"]) or {}
            rows.append(
                {
                    "node": n["NodeID"][:12],
                    "host": n.get("NodeManagerHostname", ""),
                    "address": n.get("NodeManagerAddress", ""),
                    "alive": bool(n.get("Alive")),
                    "cpus": res.get("CPU", 0),
                    "gpus": res.get("GPU", 0),
                    "takes_cpu_runs": bool(res.get(NODE_RESOURCE)),
                    "machine": machine_label(fp) if fp else "",
                    "machine_key": machine_key(fp) if fp else "",
                }
            )
        return rows
    finally:
        ray.shutdown()


def loopback_cluster(workers: int = 2):
    """A Ray cluster on 127.0.0.1 for tests and benchmarks: a head that takes no run
    (num_cpus=0, no dashboard) and `workers` nodes of one CPU each offering dlbench_node.
    `add_worker()` on it adds one more such node."""
    quiet()
    _stay_on_loopback()  # the driver may be this very process (a benchmark)
    from ray.cluster_utils import Cluster

    node = {"node_ip_address": "127.0.0.1", "object_store_memory": 80 * 2**20}
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False, **node},
    )
    cluster.add_worker = lambda: cluster.add_node(num_cpus=1, resources={NODE_RESOURCE: 1}, **node)
    for _ in range(workers):
        cluster.add_worker()
    cluster.wait_for_nodes()
    return cluster
