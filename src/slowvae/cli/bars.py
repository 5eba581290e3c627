"""Progress bars for the callbacks of the layers below (one tqdm bar per named task)."""

from __future__ import annotations

import sys
from typing import Any


class Bars:
    """A ``progress(done, total, name)`` callback drawing one tqdm bar per ``name``; a context
    manager that closes them. ``unit`` names what ``done`` counts. A bar appears only after half a
    second, so that quick work (and bad input found at once) prints nothing but its result."""

    def __init__(self, unit: str = "frame", **options: Any) -> None:
        self.unit = unit
        self.options = {"delay": 0.5, **options}
        self._bars: dict[str, Any] = {}

    def __call__(self, done: int, total: int | None, name: str) -> None:
        from tqdm import tqdm

        bar = self._bars.get(name)
        if bar is None:
            bar = self._bars[name] = tqdm(
                total=total, desc=name, unit=self.unit, dynamic_ncols=True, file=sys.stderr, **self.options
            )
        if total is not None and done > total:  # an estimated total (video length) was short
            bar.total = done
        bar.update(done - bar.n)

    def __enter__(self) -> Bars:
        return self

    def __exit__(self, *exc: Any) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
