"""Words for numbers in messages and pages: ``count(1, "run")`` is "1 run", ``count(2, "run")`` "2 runs"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, in the plural (``plural``, else ``noun + "s"``) unless ``n`` is 1; with
    thousands separators ("1,200 records")."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


__all__ = ["count"]
