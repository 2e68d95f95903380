"""The `dlbench` command: thin typer commands over the library, one module per command.

Heavy imports (frameworks, numpy, matplotlib) happen inside the commands so that
`dlbench --help` stays instant. `main()` is the one error boundary: a `UserError` becomes
one line on stderr and exit code 2; a traceback is shown only with `--debug`.
"""

from __future__ import annotations

import os
import sys

import typer

from dlbench.errors import UserError

DEBUG_ENV = "DLBENCH_DEBUG"

app = typer.Typer(
    name="dlbench",
    help="Train the same network on the same data in every framework and on every device, "
    "and measure time and accuracy honestly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one-line errors."
    ),
) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "1"


def _register() -> None:
    # Each module adds its commands to `app`; they import only typer at module level.
    from dlbench.cli import (  # noqa: F401
        compare,
        data,
        estimate,
        faces,
        listing,
        merge,
        parity,
        probe,
        report,
        reproduction,
        results,
        run,
        show,
    )


def main(argv: list[str] | None = None) -> None:
    _register()
    try:
        rc = app(args=argv, standalone_mode=False)
    except UserError as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt as exc:
        # dlbench.api.Interrupted says how many runs were stored and how to finish the rest.
        print(f"interrupted: {exc}" if str(exc) else "interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click's usage errors (bad option values) and our bugs
        # typer >= 0.29 vendors click, older typer uses the click package: match by interface.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(2)
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        sys.exit(3)
    sys.exit(rc if isinstance(rc, int) else 0)
