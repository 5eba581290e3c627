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


def _dsprites(**options: Any) -> GroundTruthData:
    from slowvae.data.dsprites_file import DSpritesFile

    return DSpritesFile(**options)


def _shapes3d(**options: Any) -> GroundTruthData:
    from slowvae.data.shapes3d import Shapes3D

    return Shapes3D(**options)


def _mpi3d(variant: str) -> Callable[..., GroundTruthData]:
    def factory(**options: Any) -> GroundTruthData:
        from slowvae.data.mpi3d import MPI3D

        return MPI3D(variant, **options)

    return factory


def _cars3d(**options: Any) -> GroundTruthData:
    from slowvae.data.cars3d import Cars3D

    return Cars3D(**options)


def _smallnorb(**options: Any) -> GroundTruthData:
    from slowvae.data.smallnorb import SmallNORB

    return SmallNORB(**options)


def _natural_binned(**options: Any) -> GroundTruthData:
    from slowvae.data.natural_sprites import CsvTransitions, NaturalSpritesBinned

    return NaturalSpritesBinned(CsvTransitions(options.pop("path", None)), **options)


#: dataset name -> factory taking keyword options (the datasets with a factor grid)
DATASETS: dict[str, Callable[..., GroundTruthData]] = {
    "dsprites-procedural": _procedural_dsprites,
    "dsprites": _dsprites,
    "shapes3d": _shapes3d,
    "mpi3d-toy": _mpi3d("toy"),
    "mpi3d-realistic": _mpi3d("realistic"),
    "mpi3d-real": _mpi3d("real"),
    "cars3d": _cars3d,
    "smallnorb": _smallnorb,
    "natural-sprites-binned": _natural_binned,
}


def _natural_sprites(**options: Any) -> PairSource:
    from slowvae.data.natural_sprites import CsvTransitions, NaturalSprites

    return NaturalSprites(CsvTransitions(options.pop("path", None)), name="natural-sprites", **options)


def _natural_like(**options: Any) -> PairSource:
    from slowvae.data.natural_sprites import GennormTransitions, NaturalSprites

    return NaturalSprites(GennormTransitions(**options), name="natural-like")


def _kitti_masks(**options: Any) -> PairSource:
    from slowvae.data.kitti_masks import KittiMasks

    return KittiMasks(**options)


#: natural sources without a factor grid: name -> factory of a PairSource. Their transitions
#: are the data's own: the transition rule given to :func:`get_pair_source` is ignored.
NATURAL_SOURCES: dict[str, Callable[..., PairSource]] = {
    "natural-sprites": _natural_sprites,
    "natural-like": _natural_like,
    "kitti-masks": _kitti_masks,
}

#: every name `--dataset` accepts
DATASET_NAMES: tuple[str, ...] = (*DATASETS, *NATURAL_SOURCES)


def get_dataset(name: str, **options: Any) -> GroundTruthData:
    """The ground-truth dataset registered as ``name`` (for example ``"dsprites-procedural"``).

    Real datasets are read from the data root (:func:`slowvae.data.paths.data_root`); a missing
    one raises :class:`~slowvae.data.paths.MissingDataError` naming ``slowvae data download``.
    """
    if name in NATURAL_SOURCES:
        raise SlowVAEError(
            f"{name!r} has no factor grid (continuous latents): use get_pair_source({name!r}, ...)"
            + ("; natural-sprites-binned is its gridded form" if name == "natural-sprites" else "")
        )
    try:
        factory = DATASETS[name]
    except KeyError:
        raise SlowVAEError(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}") from None
    return factory(**options)


def get_pair_source(name: str, transitions: Transitions | None = None, **options: Any) -> PairSource:
    """The PairSource for dataset ``name``.

    A ground-truth dataset is moved by ``transitions`` (LAP or LOC; required). SmallNORB's
    instance is a nuisance drawn from the sampling generator. The natural sources
    (``natural-sprites``, ``natural-sprites-binned``, ``natural-like``, ``kitti-masks``) move by
    their data's own transitions: ``transitions`` is ignored for them, and the source's
    ``transition_rule`` says what moves it.
    """
    if name in NATURAL_SOURCES:
        return NATURAL_SOURCES[name](**options)
    dataset = get_dataset(name, **options)
    if name == "natural-sprites-binned":
        from slowvae.data.natural_sprites import NaturalSpritesBinnedPairs

        return NaturalSpritesBinnedPairs(dataset)  # type: ignore[arg-type]
    if transitions is None:
        raise SlowVAEError(f"{name!r} needs a transition rule (LaplaceTransitions or UniformKTransitions)")
    if name == "smallnorb":
        from slowvae.data.smallnorb import SmallNORBPairs

        return SmallNORBPairs(dataset, transitions)
    return GroundTruthPairs(dataset, transitions)


__all__ = [
    "DATASETS",
    "DATASET_NAMES",
    "NATURAL_SOURCES",
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
