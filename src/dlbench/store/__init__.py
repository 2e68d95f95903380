"""The results database."""

from dlbench.store.db import DEFAULT_DB, RunRow, Store, check_db_path

__all__ = ["DEFAULT_DB", "RunRow", "Store", "check_db_path"]
