"""Datasets, transition rules and temporal pair sources."""

from __future__ import annotations

from typing import Any, Callable

from slowvae.data.base import GroundTruthData, check_factors
from slowvae.data.pairs import GroundTruthPairs, PairSource
from slowvae.data.transitions import LaplaceTransitions, Transitions, UniformKTransitions
from slowvae.errors import SlowVAEError


def _procedural_dsprites(**options: Any) -> GroundTruthData:
    from slowvae.data.dsprites import ProceduralDSprites

    return ProceduralDSprites(**options)


#: dataset name -> factory taking keyword options
DATASETS: dict[str, Callable[..., GroundTruthData]] = {
    "dsprites-procedural": _procedural_dsprites,
}


def get_dataset(name: str, **options: Any) -> GroundTruthData:
    """The ground-truth dataset registered as ``name`` (for example ``"dsprites-procedural"``)."""
    try:
        factory = DATASETS[name]
    except KeyError:
        raise SlowVAEError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}") from None
    return factory(**options)


def get_pair_source(name: str, transitions: Transitions, **options: Any) -> PairSource:
    """The PairSource for dataset ``name``: a ground-truth dataset moved by ``transitions``."""
    return GroundTruthPairs(get_dataset(name, **options), transitions)


__all__ = [
    "DATASETS",
    "GroundTruthData",
    "GroundTruthPairs",
    "LaplaceTransitions",
    "PairSource",
    "Transitions",
    "UniformKTransitions",
    "check_factors",
    "get_dataset",
    "get_pair_source",
]
