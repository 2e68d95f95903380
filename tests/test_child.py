"""dlbench/child.py: a child's result line, and its exit once the result is out."""

from __future__ import annotations

import subprocess
import sys

from dlbench.child import received, send

EXITS = """
import atexit, sys
from dlbench.child import exit_now, send
atexit.register(lambda: print("shut down", flush=True))
send({"ok": 1})
sys.stdout.write("no newline, not flushed")
sys.stderr.write("err, not flushed")
exit_now(CODE)
print("after exit_now")
"""


def test_exit_now_flushes_what_was_written_keeps_the_code_and_skips_shutdown():
    proc = subprocess.run(
        [sys.executable, "-c", EXITS.replace("CODE", "3")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    assert received(proc.stdout) == {"ok": 1}
    assert proc.stdout.endswith("no newline, not flushed")  # flushed before the exit
    assert proc.stderr.endswith("err, not flushed")
    assert "shut down" not in proc.stdout  # atexit handlers (the shutdown) never ran
    assert "after exit_now" not in proc.stdout


def test_exit_now_with_stdout_closed_still_exits():
    code = EXITS.replace("exit_now(CODE)", "sys.stdout.close()\nexit_now(0)")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.endswith("err, not flushed")


def test_received_takes_the_last_marked_line(capsys):
    send({"n": 1})
    print("framework chatter")
    send({"n": 2})
    assert received(capsys.readouterr().out) == {"n": 2}
    assert received("nothing marked\n") is None
