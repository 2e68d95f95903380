"""`dlbench run --executor ray` on a real Ray cluster on 127.0.0.1: a head with no CPUs and
two worker nodes of one CPU each (one cluster for the whole module), offline.

What is checked: four runs come back from two nodes and never overlap on one node; the weights
arrive with the SHA-256 the node computed; the node's fingerprint is stored; a node killed
mid-run is a `failed` "node lost" result that `--resume` runs again; Ctrl-C on the driver
cancels what is outstanding and stores nothing half-written; an unreachable address is one
line and exit 2; no connection leaves 127.0.0.1 meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import has_module, needs_torch, sigint_as_in_a_terminal

pytestmark = [
    needs_torch,
    pytest.mark.skipif(not has_module("ray"), reason="ray is not installed (dlbench[ray])"),
]

RUN = [
    "run",
    "--model",
    "a-mlp",
    "--dataset",
    "digits",
    "--framework",
    "torch",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--executor",
    "ray",
]
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


@pytest.fixture(scope="module")
def cluster():
    """A head (num_cpus=0, no dashboard) and two one-CPU worker nodes offering dlbench_node."""
    from dlbench.runner.ray_executor import loopback_cluster

    c = loopback_cluster(workers=2)
    yield c
    c.shutdown()


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    """`dlbench ARGS` in the background, to act on while it runs."""
    return subprocess.Popen(
        [sys.executable, "-m", "dlbench", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_as_in_a_terminal,  # the Ctrl-C test interrupts it
    )


def _dlbench(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlbench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "250"},
        check=False,
    )


def _rows(db: Path) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY id")]
    finally:
        conn.close()


def _outside_loopback() -> list[str]:
    """Established TCP connections of this test's processes (the cluster, the CLI, the runs)
    whose remote end is not on 127.0.0.1, as `ss -tnp` shows them."""
    import psutil

    ours = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
    out = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True, check=False).stdout
    bad = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 6 or "pid=" not in line:
            continue
        pids = {int(x.split(",")[0]) for x in line.split("pid=")[1:]}
        peer = parts[4].rsplit(":", 1)[0].strip("[]")
        if pids & ours and peer not in LOOPBACK:
            bad.append(line)
    return bad


class _Watch:
    """`ss` every half second while a block runs."""

    def __enter__(self):
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.seen += _outside_loopback()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _worker_nodes_running(cluster) -> list:
    """Worker nodes with a `dlbench.runner.worker` process (a run training) under their raylet."""
    import psutil

    busy = []
    for node in list(cluster.worker_nodes):
        raylet = node.all_processes["raylet"][0].process.pid
        try:
            kids = psutil.Process(raylet).children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for k in kids:
            try:
                if "dlbench.runner.worker" in " ".join(k.cmdline()):
                    busy.append(node)
                    break
            except psutil.NoSuchProcess:
                continue
    return busy


def _wait_for_a_run(cluster, timeout_s: float = 120) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = _worker_nodes_running(cluster)
        if busy:
            return busy
        time.sleep(0.2)
    raise AssertionError("no run started on the cluster")


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


@pytest.mark.slow
def test_suite_on_two_nodes(cluster, tmp_path):
    db = tmp_path / "c.sqlite"
    with _Watch() as watch:
        out = _dlbench(
            [*RUN, "--address", cluster.address, "--repeats", "4", "--db", str(db)], tmp_path
        )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = _rows(db)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"finished"}
    by_node: dict[str, list[dict]] = {}
    for r in rows:
        extra, fp = json.loads(r["extra_json"]), json.loads(r["fingerprint_json"])
        node = extra["ray"]["node_id"]
        assert fp["node"]["ray_node_id"] == node  # the node's own fingerprint
        assert fp["cpu"] and fp["hostname"] and fp["libraries"]["torch"]
        by_node.setdefault(node, []).append(r)
        weights = Path(r["weights_path"])
        assert weights.is_relative_to(tmp_path / "c-artifacts")
        assert hashlib.sha256(weights.read_bytes()).hexdigest() == extra["weights_sha256"]
        assert json.loads(r["options_json"])["threads"] == 1  # not Ray's OMP_NUM_THREADS
    assert len(by_node) == 2
    head_id = cluster.head_node.node_id
    assert head_id not in by_node  # the head offers no CPU
    for runs in by_node.values():  # one run at a time on a node
        spans = sorted((_t(r["started_at"]), _t(r["finished_at"])) for r in runs)
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end, spans
    assert watch.seen == [], watch.seen
    assert _outside_loopback() == []

    # machines as a dimension on a cluster run: one kind of machine here (two nodes)
    comp = _dlbench(
        ["compare", "--by", "machine", "--metric", "train_s", "--db", str(db)], tmp_path
    )
    assert comp.returncode == 0, comp.stderr
    assert "Machines compared" not in comp.stdout
    assert "cores" in comp.stdout  # the machine's label
    report = _dlbench(["report", "--db", str(db), "--out", "r.html", "--no-samples"], tmp_path)
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "r.html").read_text()
    assert "Machines compared" in html and "2 nodes" in html


@pytest.mark.slow
def test_node_lost_mid_run_is_a_failed_result_and_resume_runs_it(cluster, tmp_path):
    db = tmp_path / "k.sqlite"
    args = [*RUN, "--address", cluster.address, "--repeats", "2", "--epochs", "3", "--db", str(db)]
    proc = _start(args, tmp_path)
    try:
        victim = _wait_for_a_run(cluster)[0]
        cluster.remove_node(victim, allow_graceful=False)
        _, err = proc.communicate(timeout=240)
    finally:
        proc.kill()
        cluster.add_worker()  # two worker nodes again, for what follows
        cluster.wait_for_nodes()
    assert proc.returncode == 1, err[-2000:]
    rows = _rows(db)
    assert sorted(r["status"] for r in rows) == ["failed", "finished"]
    lost = next(r for r in rows if r["status"] == "failed")
    assert lost["message"].startswith("node lost: "), lost["message"]

    again = _dlbench([*args, "--resume"], tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    rows = _rows(db)
    assert len(rows) == 3 and rows[-1]["status"] == "finished"
    assert rows[-1]["run_id"] == lost["run_id"]


@pytest.mark.slow
def test_ctrl_c_cancels_the_outstanding_runs_and_writes_nothing_half(cluster, tmp_path):
    db = tmp_path / "i.sqlite"
    args = [*RUN, "--address", cluster.address, "--repeats", "4", "--epochs", "3", "--db", str(db)]
    proc = _start(args, tmp_path)
    try:
        _wait_for_a_run(cluster)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    deadline = time.monotonic() + 30
    while _worker_nodes_running(cluster) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _worker_nodes_running(cluster) == []  # cancelled, not left training
    rows = _rows(db) if db.exists() else []
    assert all(r["status"] == "finished" for r in rows)  # whole runs, or none
    folders = sorted((tmp_path / "i-artifacts").glob("*"))
    assert sorted(Path(r["weights_path"]).parent for r in rows) == folders  # no orphan folder


def test_unreachable_address_is_one_line_and_exit_2(tmp_path):
    db = tmp_path / "u.sqlite"
    out = _dlbench([*RUN, "--address", "127.0.0.1:1", "--db", str(db)], tmp_path, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Ray cluster answers at 127.0.0.1:1" in lines[0]
    assert not db.exists()
    bad = _dlbench([*RUN[:-2], "--address", "127.0.0.1:1"], tmp_path, timeout=60)
    assert bad.returncode == 2 and "--executor ray" in bad.stderr


@pytest.mark.slow
def test_nodes_all_runs_once_per_kind_of_machine_and_list_devices_shows_them(cluster, tmp_path):
    listed = _dlbench(
        ["list", "devices", "--executor", "ray", "--address", cluster.address], tmp_path
    )
    assert listed.returncode == 0, listed.stderr
    # the head and two worker nodes (and a dead one, when the node-lost test ran before)
    assert listed.stdout.count("127.0.0.1") >= 3
    assert "1 kind(s) of machine" in listed.stdout  # two nodes, one kind of hardware
    db = tmp_path / "n.sqlite"
    every_core = [a for a in RUN if a not in ("--threads", "1")]  # no --threads: every core
    args = [*every_core, "--address", cluster.address, "--nodes", "all", "--db", str(db)]
    out = _dlbench(args, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    (row,) = _rows(db)
    # Ray would have set OMP_NUM_THREADS=1 (the task's one CPU): the run sets every core.
    assert json.loads(row["options_json"])["threads"] == os.cpu_count()
    again = _dlbench([*args, "--resume"], tmp_path)
    assert again.returncode == 0 and "1 run(s) already stored as done" in again.stdout
    assert len(_rows(db)) == 1
