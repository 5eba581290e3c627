"""Transitions of object tracks at a time step dt: ``track[t + dt] - track[t]`` for every t where
the object is present in both frames (tracks come from :mod:`slowvae.masks`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from slowvae.errors import SlowVAEError

#: the columns of a track and their units
VARIABLES = ("x", "y", "area")
UNITS = {"x": "px", "y": "px", "area": "px^2"}


def transitions(tracks: Sequence[np.ndarray], dt: int = 1) -> np.ndarray:
    """Transitions ``track[t + dt] - track[t]`` of all tracks (each (T_i, K)) where both rows are
    present (finite): float (N, K)."""
    if dt < 1:
        raise SlowVAEError(f"dt must be a positive number of frames, got {dt}")
    if not tracks:
        raise SlowVAEError("no object tracks: the input holds no object in any frame")
    k = np.asarray(tracks[0]).shape[1]
    parts = []
    for tr in tracks:
        tr = np.asarray(tr, dtype=np.float64)
        if len(tr) <= dt:
            continue
        d = tr[dt:] - tr[:-dt]
        parts.append(d[np.isfinite(d).all(axis=1)])
    out = np.concatenate(parts) if parts else np.empty((0, k))
    if len(out) == 0:
        longest = max(len(t) for t in tracks)
        raise SlowVAEError(
            f"no transitions at dt={dt}: no object is present in two frames {dt} apart "
            f"({len(tracks)} tracks, the longest has {longest} frames)"
        )
    return out
