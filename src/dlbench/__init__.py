"""dlbench: the same network, the same data, every framework and device, measured honestly.

The Python API (dlbench/api.py): `dlbench.run(...)` trains and stores runs and returns
`Results`; `dlbench.load("dlbench.sqlite")` returns the stored ones. Both are imported on
first use, so `import dlbench` stays instant and imports no framework, pandas or matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Results", "UserError", "load", "run"]

if TYPE_CHECKING:
    from dlbench.api import load, run
    from dlbench.errors import UserError
    from dlbench.results import Results


def __getattr__(name: str) -> Any:
    if name in ("run", "load"):
        from dlbench import api

        return getattr(api, name)
    if name == "Results":
        from dlbench.results import Results

        return Results
    if name == "UserError":
        from dlbench.errors import UserError

        return UserError
    raise AttributeError(f"module 'dlbench' has no attribute {name!r}")
