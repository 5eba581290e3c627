"""Datasets, transition rules and temporal pair sources.

Every dataset is one entry of the registry in :mod:`slowvae.data.registry`;
:func:`get_dataset` and :func:`get_pair_source` look names up there.
"""

from __future__ import annotations

from slowvae.data.base import GroundTruthData, check_grid_factors
from slowvae.data.pairs import GroundTruthPairs, PairSource
from slowvae.data.registry import (
    DATASETS,
    DatasetEntry,
    dataset_entry,
    dataset_names,
    get_dataset,
    get_pair_source,
    register_dataset,
)
from slowvae.data.transitions import LaplaceTransitions, Transitions, UniformKTransitions

__all__ = [
    "DATASETS",
    "DatasetEntry",
    "GroundTruthData",
    "GroundTruthPairs",
    "LaplaceTransitions",
    "PairSource",
    "Transitions",
    "UniformKTransitions",
    "check_grid_factors",
    "dataset_entry",
    "dataset_names",
    "get_dataset",
    "get_pair_source",
    "register_dataset",
]
