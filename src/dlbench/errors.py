"""Errors a user can cause: each carries a message that names the problem and the fix.

The CLI turns a `UserError` into one line on stderr and exit code 2; anything else is a bug
and shows a traceback only with `--debug`.
"""


class UserError(Exception):
    """Bad input: an unknown name, an impossible shape, a missing file. Exit code 2."""

    exit_code = 2


def exception_line(exc: BaseException, limit: int = 500) -> str:
    """`Type: the first line of its message`, at most `limit` characters: how a failed run,
    a failed parity case or a model that cannot be restored says what went wrong."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:limit]


def last_line(text: str, empty: str = "no output") -> str:
    """The last non-blank line of a child process' output: usually the error that ended it."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else empty
