"""Numbers as the report's text writes them: one spelling of a fraction as a percent, and of
a value that is missing."""

from __future__ import annotations

NA = "n/a"  # a value the run did not measure (or cannot have)


def pct(fraction: float | None, digits: int = 2, missing: str = NA) -> str:
    """0.8312 -> "83.12%"; None -> `missing`."""
    return missing if fraction is None else f"{100 * fraction:.{digits}f}%"
