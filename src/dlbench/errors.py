"""Errors a user can cause: each carries a message that names the problem and the fix.

The CLI turns a `UserError` into one line on stderr and exit code 2; anything else is a bug
and shows a traceback only with `--debug`.
"""


class UserError(Exception):
    """Bad input: an unknown name, an impossible shape, a missing file. Exit code 2."""

    exit_code = 2
