"""Fixtures for the report tests: the synthetic database (fixed rows, no training)."""

from __future__ import annotations

import pytest

from tests.report.helpers import make_db


@pytest.fixture(scope="session")
def synthetic_db(tmp_path_factory):
    return make_db(tmp_path_factory.mktemp("synthetic") / "golden.sqlite")


@pytest.fixture(scope="session")
def synthetic_rows(synthetic_db):
    from dlbench.store.db import Store

    with Store(synthetic_db, readonly=True) as store:
        return store.runs()
