"""The test suite's own order (tests/conftest.py): what it names exists."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import LONGEST_FIRST

ROOT = Path(__file__).resolve().parents[1]


def test_longest_first_names_test_files_that_exist_once_each():
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
    missing = [p for p in LONGEST_FIRST if not (ROOT / p).is_file()]
    assert not missing, f"renamed or removed: update tests/conftest.py LONGEST_FIRST: {missing}"
