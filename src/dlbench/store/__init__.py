"""The results database.

The names below are loaded on first use: a run's worker imports `store.record` only, and
should not pay for the database module (sqlite3 and the schema) it never opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlbench.store.db import DEFAULT_DB, RunRow, Store, check_db_path

__all__ = ["DEFAULT_DB", "RunRow", "Store", "check_db_path"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dlbench.store import db

        return getattr(db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
