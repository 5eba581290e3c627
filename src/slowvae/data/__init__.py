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


def _frames(path: str, **options: Any) -> PairSource:
    from slowvae.data.frames import FramesSource

    return FramesSource(path, **options)


#: sources named ``prefix:argument`` (``frames:PATH``): prefix -> (factory of a PairSource taking
#: the argument, the options it accepts). They decode their input and accept ``progress``.
PREFIXED_SOURCES: dict[str, tuple[Callable[..., PairSource], tuple[str, ...]]] = {
    "frames": (_frames, ("max_dt", "binary", "truth")),
}

#: every name `--dataset` accepts
DATASET_NAMES: tuple[str, ...] = (*DATASETS, *NATURAL_SOURCES, *(f"{p}:ARG" for p in PREFIXED_SOURCES))


def _prefixed(name: str) -> tuple[str, str] | None:
    prefix, sep, argument = name.partition(":")
    if sep and prefix in PREFIXED_SOURCES:
        if not argument:
            raise SlowVAEError(f"{name!r} names no input: write {prefix}:PATH")
        return prefix, argument
    return None


def dataset_option_names(name: str) -> tuple[str, ...]:
    """The source options (besides the transition rule) dataset ``name`` accepts, e.g. ``max_dt``."""
    found = _prefixed(name)
    return PREFIXED_SOURCES[found[0]][1] if found else ()


def get_dataset(name: str, **options: Any) -> GroundTruthData:
    """The ground-truth dataset registered as ``name`` (for example ``"dsprites-procedural"``).

    Real datasets are read from the data root (:func:`slowvae.data.paths.data_root`); a missing
    one raises :class:`~slowvae.data.paths.MissingDataError` naming ``slowvae data download``.
    """
    if name in NATURAL_SOURCES or _prefixed(name):
        raise SlowVAEError(
            f"{name!r} has no factor grid (continuous latents): use get_pair_source({name!r}, ...)"
            + ("; natural-sprites-binned is its gridded form" if name == "natural-sprites" else "")
        )
    try:
        factory = DATASETS[name]
    except KeyError:
        raise SlowVAEError(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}") from None
    return factory(**options)


def get_pair_source(
    name: str, transitions: Transitions | None = None, *, progress: Callable[..., None] | None = None, **options: Any
) -> PairSource:
    """The PairSource for dataset ``name``.

    A ground-truth dataset is moved by ``transitions`` (LAP or LOC; required). SmallNORB's
    instance is a nuisance drawn from the sampling generator. The natural sources
    (``natural-sprites``, ``natural-sprites-binned``, ``natural-like``, ``kitti-masks``) move by
    their data's own transitions: ``transitions`` is ignored for them, and the source's
    ``transition_rule`` says what moves it. So are the user's own sequences, ``frames:PATH``
    (:mod:`slowvae.data.frames`; options ``max_dt``, ``binary``, ``truth``), which report their
    one-time decoding to ``progress(done, total, what)``.
    """
    found = _prefixed(name)
    if found:
        factory, accepted = PREFIXED_SOURCES[found[0]]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise SlowVAEError(f"{found[0]}: datasets take the options {', '.join(accepted)}; not {', '.join(unknown)}")
        return factory(found[1], progress=progress, **options)
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
    "PREFIXED_SOURCES",
    "GroundTruthData",
    "GroundTruthPairs",
    "LaplaceTransitions",
    "PairSource",
    "Transitions",
    "UniformKTransitions",
    "check_factors",
    "dataset_option_names",
    "get_dataset",
    "get_pair_source",
]
