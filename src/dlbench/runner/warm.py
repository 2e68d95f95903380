"""Warm processes: each run's process forked from one that has already imported its framework.

Importing torch, TensorFlow or JAX takes 2-5 s on a 2-core EPYC, and a short run trains for
less than that: most of a quick suite's time was imports (docs/performance.md, "Warm
processes", measures both ways side by side). So the local executor keeps one *warm process*
per run environment (the framework and the variables a fresh run process would get: Keras'
backend, thread counts, JAX's platforms): `python -m dlbench.runner.warm` imports what a run
imports and then only waits. Each run is `os.fork()` of it: still a process of its own (a
crash or an out-of-memory kill takes only that run; its thread pools, device memory and
framework state start from nothing, since the warm process never computes, never starts a
framework thread pool and never touches a device), but without the import. The import is
measured once, in the warm process, and stored with every run forked from it
(`warm_import_s`); the first of them waited for it.

The parent talks to a warm process over a Unix socket: a job goes with the run's log and
event file descriptors (SCM_RIGHTS); the warm process answers with the fork's pid and, when
it ends, its exit status (a negative signal number, as `subprocess` says it). Ray's nodes and
every other child (parity, predictions, probes) still start fresh processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from typing import Any

from dlbench.child import exit_now
from dlbench.errors import last_line

WARM_FD_ENV = "DLBENCH_WARM_FD"
MAX_WARM = 4  # warm processes kept at once (least recently used closed first): ~0.3-0.6 GB each
READY_TIMEOUT_S = 300  # the import, on a loaded machine
_MSG = 1 << 20  # the largest message: a job is a few kB


def available() -> bool:
    """Warm processes need Linux: fork beside the frameworks' libraries, and descriptors
    passed over a SOCK_SEQPACKET Unix socket. Elsewhere every run starts a fresh process."""
    return sys.platform == "linux"


def env_key(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Runs whose environments are equal share a warm process."""
    return tuple(sorted(env.items()))


class WarmChild:
    """A run's process forked by a warm process: what run_one needs of a Popen."""

    def __init__(self, warm: Warm, pid: int) -> None:
        self._warm, self.pid = warm, pid
        self.returncode: int | None = None

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it has just ended
                os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int:
        if self.returncode is None:
            reply = self._warm.receive()
            # No reply: the warm process itself died (killed with its child): as a SIGKILL.
            self.returncode = int(reply["exit"]) if reply else -signal.SIGKILL
        return self.returncode


class Warm:
    """One warm process, started with `env`; `fork` makes a run's process of it."""

    def __init__(self, env: dict[str, str], framework: str) -> None:
        from dlbench.runner.process import parent_death_preexec

        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # What the framework says while it is imported (TensorFlow's banner) goes to a file,
        # as a fresh run's goes to its log, not to the user's terminal.
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dlbench.runner.warm", framework],
            env={**env, WARM_FD_ENV: str(theirs.fileno())},
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            preexec_fn=parent_death_preexec(),
        )
        theirs.close()
        self.sock.settimeout(READY_TIMEOUT_S)
        ready = self.receive()
        self.sock.settimeout(None)
        if not ready or "import_s" not in ready:
            self.log.seek(0)
            why = (ready or {}).get("error") or last_line(self.log.read()) or "no reason given"
            self.close()
            raise RuntimeError(f"the warm {framework} process did not start: {why}")
        self.import_s: float = ready["import_s"]

    def receive(self) -> dict[str, Any] | None:
        try:
            data = self.sock.recv(_MSG)
        except OSError:
            return None
        return json.loads(data) if data else None

    def fork(self, job: dict, log_fd: int, event_fd: int) -> WarmChild:
        """Start `job` in a fork; its stdout and stderr go to `log_fd`, its events to
        `event_fd` (both are the parent's, passed over the socket)."""
        socket.send_fds(self.sock, [json.dumps(job).encode()], [log_fd, event_fd])
        reply = self.receive()
        if not reply or "pid" not in reply:
            raise OSError("the warm process did not fork")
        return WarmChild(self, int(reply["pid"]))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.sock.close()  # the warm process sees the end of its socket and exits
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class WarmPool:
    """The warm processes of one suite, by environment; closed with the suite."""

    def __init__(self, size: int = MAX_WARM) -> None:
        self.size = size
        self._warm: OrderedDict[tuple, Warm] = OrderedDict()
        self._failed: set[tuple] = set()  # environments whose warm process could not start

    def get(self, env: dict[str, str], framework: str) -> Warm | None:
        """The warm process for `env`, started now if there is none; None where it cannot
        start (said once, on stderr): that environment's runs start fresh processes."""
        key = env_key(env)
        if key in self._failed:
            return None
        warm = self._warm.get(key)
        if warm is not None and warm.alive():
            self._warm.move_to_end(key)
            return warm
        if warm is not None:
            self._warm.pop(key).close()
        while len(self._warm) >= self.size:
            self._warm.popitem(last=False)[1].close()
        try:
            warm = self._warm[key] = Warm(env, framework)
        except (OSError, RuntimeError) as exc:
            self._failed.add(key)
            print(f"dlbench: {exc}; its runs start fresh processes", file=sys.stderr)
            return None
        return warm

    def close(self) -> None:
        while self._warm:
            self._warm.popitem()[1].close()

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- the warm process ---------------------------------------------------------------------------
def _send(sock: socket.socket, **message: Any) -> None:
    sock.send(json.dumps(message).encode())


def _child(sock: socket.socket, job: dict, log_fd: int, event_fd: int) -> None:
    """In the fork: the run, as `python -m dlbench.runner.worker` would do it."""
    from dlbench.runner.process import die_with_parent
    from dlbench.runner.worker import EVENT_FD_ENV, serve

    sock.close()
    die_with_parent()  # the warm process dies with the suite; its runs die with it
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops a run as before
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    os.environ[EVENT_FD_ENV] = str(event_fd)
    code = 0
    try:
        serve(job)
    except BaseException:  # noqa: BLE001 - as an uncaught exception ends a fresh worker
        import traceback

        traceback.print_exc()
        code = 1
    exit_now(code)


def touched_a_device() -> str | None:
    """Why forking this process would be unsafe, or None: a framework that has started its
    device runtime (CUDA in torch, JAX's backends) cannot be forked. Importing does not start
    them; this checks that it did not (read from sys.modules: nothing is imported here)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return "torch has initialised CUDA"
    bridge = sys.modules.get("jax._src.xla_bridge")
    if bridge is not None and getattr(bridge, "_backends", None):
        return "JAX has started its backends"
    return None


def main() -> None:
    import warnings

    # Ctrl-C reaches the whole process group: the parent stops the suite and closes this.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Python 3.12 warns of fork() beside threads; the only ones here are numpy's OpenBLAS pool,
    # which is made for fork (pthread_atfork), and a fresh run's process has it too.
    warnings.filterwarnings("ignore", ".*multi-threaded.*fork", DeprecationWarning)
    sock = socket.socket(fileno=int(os.environ.pop(WARM_FD_ENV)))
    framework = sys.argv[1]
    t0 = time.perf_counter()
    try:
        from dlbench.runner.worker import import_framework

        import_framework(framework)
        import dlbench.data  # noqa: F401 - what every run imports next: its data
        import dlbench.measure.energy  # noqa: F401
        import dlbench.measure.noise  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - said to the parent, which starts fresh runs
        from dlbench.errors import exception_line

        _send(sock, error=exception_line(exc))
        exit_now(1)
    import_s = time.perf_counter() - t0
    if why := touched_a_device():
        _send(sock, error=why)
        exit_now(1)
    _send(sock, import_s=import_s)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MSG, 2)
        except OSError:
            break
        if not data:  # the parent closed its end: the suite is over
            break
        job = json.loads(data)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(sock, job, *fds)
        for fd in fds:
            os.close(fd)
        try:
            _send(sock, pid=pid)
            _, status = os.waitpid(pid, 0)
            _send(sock, exit=os.waitstatus_to_exitcode(status))
        except OSError:  # the parent has gone (an interrupted suite): nothing to report to
            break
    exit_now()


if __name__ == "__main__":
    main()
