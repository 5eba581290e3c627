"""The dataset registry: one entry per dataset name, carrying everything about it.

An entry (:class:`DatasetEntry`) holds what ``slowvae data list`` shows (factors, size, licence,
source), where the files come from and how they are prepared (``slowvae data download``), and
how the dataset is built: ``grid`` gives the factor grid (:class:`GroundTruthData`, for
:func:`get_dataset`) and ``pairs`` the :class:`PairSource` training and evaluation consume
(:func:`get_pair_source`; by default the grid moved by the given transition rule).

A dataset name is found, in this order, as

1. a registered name (:data:`DATASETS`);
2. ``PREFIX:ARGUMENT`` where ``PREFIX:`` is a registered prefix entry (an entry whose name ends
   with ``:``, such as ``frames:``); its factories receive ``argument="ARGUMENT"`` as an option
   (``frames:PATH``, the user's own sequences: :mod:`slowvae.data.frames`);
3. an entry point of the group ``slowvae.datasets`` of an installed package (its name is the
   dataset name). Its object is a :class:`DatasetEntry`, or a callable
   ``(transitions, **options) -> PairSource``.

Adding a dataset is one entry: ``register_dataset(DatasetEntry("my-data", pairs=factory, ...))``.
Sources of each dataset: docs/datasets.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from slowvae.data.base import GroundTruthData
from slowvae.data.download import Remote, safe_extract
from slowvae.data.pairs import GroundTruthPairs, PairSource
from slowvae.data.transitions import Transitions
from slowvae.errors import SlowVAEError

#: the entry-point group through which other packages add datasets
ENTRY_POINT_GROUP = "slowvae.datasets"

#: ``pairs(transitions, **options) -> PairSource``; ``transitions`` may be None
PairFactory = Callable[..., PairSource]
#: ``grid(**options) -> GroundTruthData``
GridFactory = Callable[..., GroundTruthData]


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset: its description, its files and its factories.

    ``grid`` builds the factor grid (None for data without one: continuous latents). ``pairs``
    builds the PairSource; when None, the grid is moved by the transition rule given to
    :func:`get_pair_source` (:class:`GroundTruthPairs`). ``folder`` is the sub-folder of the data
    root holding ``remotes`` (None: nothing to fetch); ``prepare(folder)`` runs after a download.
    A name ending with ``:`` is a prefix entry: ``NAME:ARGUMENT`` reaches it with
    ``argument="ARGUMENT"`` among the options of its factories. ``options`` names the keyword
    options its factories accept where the run's config may set them (``frames:``); ``gridded``
    the dataset that is its factor-grid form, for data with continuous latents. ``check_options``
    validates option values without loading data; ``pairs_text`` says how the entry's own pair
    source makes its pairs, for data whose pairs are not moved by a transition rule.
    """

    name: str
    factors: str = ""
    size: str = "-"
    licence: str = ""
    source: str = ""
    grid: GridFactory | None = None
    pairs: PairFactory | None = None
    folder: str | None = None
    remotes: tuple[Remote, ...] = ()
    prepare: Callable[[Path], object] | None = None
    note: str = ""
    same_files_as: str | None = None
    origin: str = "built-in"  # "built-in", or where a plugin entry came from
    options: tuple[str, ...] = ()
    gridded: str | None = None
    check_options: Callable[..., None] | None = None  # called with the options as keywords
    pairs_text: Callable[..., str] | None = None

    @property
    def builtin(self) -> bool:
        """Whether there is nothing to fetch for this dataset."""
        return self.folder is None

    @property
    def is_prefix(self) -> bool:
        return self.name.endswith(":")

    def pair_source(self, transitions: Transitions | None = None, **options: Any) -> PairSource:
        """This dataset's PairSource (see the class docstring)."""
        if self.pairs is not None:
            return self.pairs(transitions, **options)
        if self.grid is None:
            raise SlowVAEError(f"dataset {self.name!r} has neither a pair source nor a factor grid")
        return GroundTruthPairs(self.grid(**options), _needs_rule(self.name, transitions))

    def dataset(self, **options: Any) -> GroundTruthData:
        """This dataset's factor grid."""
        if self.grid is None:
            hint = f"; {self.gridded} is its gridded form" if self.gridded is not None else ""
            raise SlowVAEError(
                f"{self.name!r} has no factor grid (continuous latents): use get_pair_source({self.name!r}, ...){hint}"
            )
        return self.grid(**options)


def _needs_rule(name: str, transitions: Transitions | None) -> Transitions:
    if transitions is None:
        raise SlowVAEError(f"{name!r} needs a transition rule (LaplaceTransitions or UniformKTransitions)")
    return transitions


# --------------------------------------------------------------------------------------------
# the built-in datasets: factories (loaders are imported when a dataset is used)


def _procedural_dsprites(**options: Any) -> GroundTruthData:
    from slowvae.data.dsprites import ProceduralDSprites

    return ProceduralDSprites(**options)


def _dsprites(**options: Any) -> GroundTruthData:
    from slowvae.data.dsprites_file import DSpritesFile

    return DSpritesFile(**options)


def _shapes3d(**options: Any) -> GroundTruthData:
    from slowvae.data.shapes3d import Shapes3D

    return Shapes3D(**options)


def _mpi3d_grid(variant: str) -> GridFactory:
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


def _smallnorb_pairs(transitions: Transitions | None, **options: Any) -> PairSource:
    from slowvae.data.smallnorb import SmallNORBPairs

    return SmallNORBPairs(_smallnorb(**options), _needs_rule("smallnorb", transitions))


def _natural_binned(**options: Any) -> GroundTruthData:
    from slowvae.data.natural_sprites import CsvTransitions, NaturalSpritesBinned

    return NaturalSpritesBinned(CsvTransitions(options.pop("path", None)), **options)


def _natural_binned_pairs(transitions: Transitions | None, **options: Any) -> PairSource:
    from slowvae.data.natural_sprites import NaturalSpritesBinnedPairs

    return NaturalSpritesBinnedPairs(_natural_binned(**options))  # type: ignore[arg-type]


def _natural_sprites(transitions: Transitions | None, **options: Any) -> PairSource:
    from slowvae.data.natural_sprites import CsvTransitions, NaturalSprites

    return NaturalSprites(CsvTransitions(options.pop("path", None)), name="natural-sprites", **options)


def _natural_like(transitions: Transitions | None, **options: Any) -> PairSource:
    from slowvae.data.natural_sprites import GennormTransitions, NaturalSprites

    return NaturalSprites(GennormTransitions(**options), name="natural-like")


def _kitti_masks(transitions: Transitions | None, **options: Any) -> PairSource:
    from slowvae.data.kitti_masks import KittiMasks

    return KittiMasks(**options)


#: the options of ``frames:PATH`` (:class:`slowvae.data.frames.FramesSource`)
_FRAMES_OPTIONS = ("max_dt", "binary", "truth", "progress")


def _frames(transitions: Transitions | None, *, argument: str, **options: Any) -> PairSource:
    from slowvae.data.frames import FramesSource

    unknown = sorted(set(options) - set(_FRAMES_OPTIONS))
    if unknown:
        raise SlowVAEError(f"frames: datasets take the options {', '.join(_FRAMES_OPTIONS)}; not {', '.join(unknown)}")
    return FramesSource(argument, **options)


def _frames_pairs(max_dt: int = 1, **_: Any) -> str:
    return f"frames Δt apart within one sequence, Δt ~ U{{1..{max_dt}}} (max_dt {max_dt})"


def _check_frames_options(**options: Any) -> None:
    from slowvae.data.frames import check_options

    check_options(**options)


def _prepare_dsprites(folder: Path) -> None:
    from slowvae.data.dsprites_file import prepare_dsprites

    prepare_dsprites(folder)


def _prepare_cars(folder: Path) -> None:
    from slowvae.data.cars3d import ARCHIVE, prepare_cars3d

    safe_extract(folder / ARCHIVE, folder)
    prepare_cars3d(folder)


def _prepare_norb(folder: Path) -> None:
    from slowvae.data.smallnorb import prepare_smallnorb

    prepare_smallnorb(folder)


def _prepare_mpi3d(variant: str) -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        from slowvae.data.mpi3d import file_name, open_images

        open_images(folder / file_name(variant))  # converts a compressed copy once; maps a stored one

    return prepare


def _prepare_natural(folder: Path) -> None:
    from slowvae.data.natural_sprites import CSV, CsvTransitions

    CsvTransitions(folder / CSV)  # parses once and caches the pairs


def _prepare_kitti(folder: Path) -> None:
    from slowvae.data.kitti_masks import PICKLE, KittiMasks

    KittiMasks(folder / PICKLE)  # converts the pickle into mapped arrays


_DSPRITES_BASE = (
    "https://github.com/deepmind/dsprites-dataset/raw/master/",
    "https://github.com/google-deepmind/dsprites-dataset/raw/master/",
    "https://raw.githubusercontent.com/deepmind/dsprites-dataset/master/",
)
_MPI3D_MD5 = {
    "toy": "55889cb7c7dfc655d6e0277beee88868",
    "realistic": "59a6225b88b635365f70c91b3e52f70f",
    "real": "0f33f609918fb5c97996692f91129802",
}
_NORB = (
    ("5x46789x9x18x6x2x96x96-training", "dat", "66054832f9accfe74a0f4c36a75bc0a2", 131_896_188),
    ("5x46789x9x18x6x2x96x96-training", "cat", "23c8b86101fbf0904a000b43d3ed2fd9", 348),
    ("5x46789x9x18x6x2x96x96-training", "info", "51dee1210a742582ff607dfd94e332e3", 71_052),
    ("5x01235x9x18x6x2x96x96-testing", "dat", "e4ad715691ed5a3a5f138751a4ceb071", 130_799_817),
    ("5x01235x9x18x6x2x96x96-testing", "cat", "5aa791cd7e6016cf957ce9bdb93b8603", 347),
    ("5x01235x9x18x6x2x96x96-testing", "info", "a9454f3864d7fd4bb3ea7fc3eb84924e", 10_428),
)


def _mpi3d(variant: str) -> DatasetEntry:
    name = f"mpi3d_{variant}.npz"
    return DatasetEntry(
        name=f"mpi3d-{variant}",
        factors="color 6, shape 6, size 2, height 3, background 3, horizontal 40, vertical 40",
        size="12.7 GB",
        licence="CC-BY-4.0",
        source="huggingface.co/datasets/waleedgondal/mpi3d",
        folder=f"mpi3d_{variant}",
        remotes=(
            Remote(
                name,
                (
                    f"https://huggingface.co/datasets/waleedgondal/mpi3d/resolve/main/{name}",
                    f"https://storage.googleapis.com/disentanglement_dataset/Final_Dataset/{name}",
                ),
                known_md5=(_MPI3D_MD5[variant],),
            ),
        ),
        grid=_mpi3d_grid(variant),
        prepare=_prepare_mpi3d(variant),
        note="no checksum for the 2025 re-upload: the first download's sha256 is recorded",
    )


_NATURAL_CSV = Remote(
    "downscale_keepaspect.csv",
    (
        "https://zenodo.org/records/3948069/files/downscale_keepaspect.csv?download=1",
        "https://zenodo.org/record/3948069/files/downscale_keepaspect.csv?download=1",
    ),
)


#: dataset name -> entry, in the order `slowvae data list` shows them
DATASETS: dict[str, DatasetEntry] = {
    entry.name: entry
    for entry in (
        DatasetEntry(
            "dsprites-procedural",
            "shape 3, scale 6, orientation 40, x 32, y 32",
            "-",
            "MIT (this package)",
            "rendered on demand (approximation of dSprites)",
            grid=_procedural_dsprites,
        ),
        DatasetEntry(
            "dsprites",
            "shape 3, scale 6, orientation 40, x 32, y 32",
            "26 MB",
            "Apache-2.0",
            "github.com/deepmind/dsprites-dataset",
            folder="dsprites",
            remotes=(
                Remote(
                    "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
                    tuple(b + "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" for b in _DSPRITES_BASE),
                    md5="7da33b31b13a06f4b04a70402ce90c2e",
                ),
            ),
            grid=_dsprites,
            prepare=_prepare_dsprites,
        ),
        DatasetEntry(
            "shapes3d",
            "floor hue 10, wall hue 10, object hue 10, scale 8, shape 4, orientation 15",
            "268 MB",
            "Apache-2.0",
            "storage.googleapis.com/3d-shapes",
            folder="3dshapes",
            remotes=(
                Remote(
                    "3dshapes.h5",
                    ("https://storage.googleapis.com/3d-shapes/3dshapes.h5",),
                    md5="099a2078d58cec4daad0702c55d06868",
                    sha256="0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785",
                    size=267_573_662,
                ),
            ),
            grid=_shapes3d,
            note="needs h5py (pip install 'slowvae[hdf5]')",
        ),
        _mpi3d("toy"),
        _mpi3d("realistic"),
        _mpi3d("real"),
        DatasetEntry(
            "cars3d",
            "elevation 4, azimuth 24, car 183",
            "unknown",
            "no licence stated",
            "scottreed.info (Reed et al. 2015)",
            folder="cars",
            remotes=(
                Remote(
                    "nips2015-analogy-data.tar.gz",
                    (
                        "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz",
                        "http://www-personal.umich.edu/~reedscot/files/nips2015-analogy-data.tar.gz",
                    ),
                    md5="4e866a7919c1beedf53964e6f7a23686",
                ),
            ),
            grid=_cars3d,
            prepare=_prepare_cars,
        ),
        DatasetEntry(
            "smallnorb",
            "category 5, instance 10 (nuisance), elevation 9, azimuth 18, lighting 6",
            "263 MB",
            "no licence stated",
            "cs.nyu.edu/~ylclab/data/norb-v1.0-small",
            folder="small_norb",
            remotes=tuple(
                Remote(
                    f"smallnorb-{chunk}-{kind}.mat.gz",
                    (f"https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/smallnorb-{chunk}-{kind}.mat.gz",),
                    md5=md5,
                    size=size,
                )
                for chunk, kind, md5, size in _NORB
            ),
            grid=_smallnorb,
            pairs=_smallnorb_pairs,
            prepare=_prepare_norb,
        ),
        DatasetEntry(
            "natural-sprites",
            "x, y, scale (continuous; MCC only), angle 40, shape 4",
            "~10 MB",
            "see Zenodo record 3948069",
            "zenodo.org/record/3948069 (YouTube-VIS masks)",
            folder="natural_sprites",
            pairs=_natural_sprites,
            remotes=(_NATURAL_CSV,),
            prepare=_prepare_natural,
            gridded="natural-sprites-binned",
            note="no published checksum: the first download's sha256 is recorded",
        ),
        DatasetEntry(
            "natural-sprites-binned",
            "x 32, y 32, scale 6, angle 40, shape 4",
            "~10 MB",
            "see Zenodo record 3948069",
            "zenodo.org/record/3948069 (same CSV)",
            folder="natural_sprites",
            grid=_natural_binned,
            pairs=_natural_binned_pairs,
            remotes=(_NATURAL_CSV,),
            prepare=_prepare_natural,
            same_files_as="natural-sprites",
        ),
        DatasetEntry(
            "natural-like",
            "x, y, scale (continuous; MCC only), angle 40, shape 4",
            "-",
            "MIT (this package)",
            "synthetic: generalized-Laplace steps fitted to YouTube-VOS",
            pairs=_natural_like,
        ),
        DatasetEntry(
            "kitti-masks",
            "y, x, area (continuous; MCC only)",
            "~350 MB",
            "CC BY-NC-SA 3.0 (KITTI MOTS)",
            "zenodo.org/record/3931823, or `data build kitti-masks --mots DIR`",
            folder="kitti",
            remotes=(
                Remote(
                    "kitti_peds_v2.pickle",
                    (
                        "https://zenodo.org/records/3931823/files/kitti_peds_v2.pickle?download=1",
                        "https://zenodo.org/record/3931823/files/kitti_peds_v2.pickle?download=1",
                    ),
                ),
            ),
            pairs=_kitti_masks,
            prepare=_prepare_kitti,
            note="no published checksum: the first download's sha256 is recorded",
        ),
        DatasetEntry(
            "frames:",
            "none, or the columns of a --truth CSV (continuous or integer)",
            "-",
            "the user's own",
            "your image folders, .npy/.npz arrays or videos (frames:PATH, decoded once into a cache)",
            pairs=_frames,
            options=_FRAMES_OPTIONS,
            check_options=_check_frames_options,
            pairs_text=_frames_pairs,
            note="pairs are frames dt ~ U{1..max_dt} apart within one sequence; `slowvae data clean frames` "
            "removes the caches",
        ),
    )
}


def register_dataset(entry: DatasetEntry, *, replace: bool = False) -> DatasetEntry:
    """Add ``entry`` to :data:`DATASETS` (a name ending with ``:`` registers a prefix)."""
    if entry.name in DATASETS and not replace:
        raise SlowVAEError(f"a dataset named {entry.name!r} is already registered")
    DATASETS[entry.name] = entry
    return entry


def dataset_names() -> list[str]:
    """Every dataset name: the registered ones (a prefix entry as ``PREFIX:...``), then those of
    installed ``slowvae.datasets`` entry points."""
    names = [f"{n}..." if e.is_prefix else n for n, e in DATASETS.items()]
    return [*names, *(n for n in sorted(_entry_points()) if n not in DATASETS)]


def dataset_entry(name: str) -> tuple[DatasetEntry, dict[str, Any]]:
    """The entry of dataset ``name`` and the options its name carries (``argument`` of a
    ``PREFIX:ARGUMENT`` name; none otherwise)."""
    if name in DATASETS and not DATASETS[name].is_prefix:
        return DATASETS[name], {}
    prefix, colon, argument = name.partition(":")
    if colon and prefix + ":" in DATASETS:
        if not argument:
            raise SlowVAEError(f"dataset {name!r} needs an argument after the colon, as in {prefix}:PATH")
        return DATASETS[prefix + ":"], {"argument": argument}
    eps = _entry_points()
    if name in eps:
        return _plugin_entry(name, eps[name]), {}
    if _looks_like_frames(name):
        raise SlowVAEError(f"unknown dataset {name!r}: for your own frames give frames:{name}")
    raise SlowVAEError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}")


def _looks_like_frames(name: str) -> bool:
    """Whether a dataset name looks like the user's own frames: an existing path, a video, an array."""
    from slowvae.data.frame_readers import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    return Path(name).exists() or Path(name).suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES | {".npy", ".npz"}


def check_dataset(name: str, options: dict[str, Any] | None = None) -> None:
    """Check that dataset ``name`` exists and that the values of its ``options`` are valid, without
    loading any data (the entry's ``check_options``, where it has one). Raises SlowVAEError."""
    entry, _ = dataset_entry(name)
    check = entry.check_options
    if check is not None and options:
        check(**options)


def pairs_text(name: str, options: dict[str, Any] | None = None) -> str | None:
    """How the pairs of dataset ``name`` with ``options`` are made where the data has its own rule
    (``frames:``: Δt apart), or None where a run's transitions (LAP, LOC) move it or the name is unknown."""
    try:
        entry, _ = dataset_entry(name)
    except SlowVAEError:
        return None
    describe = entry.pairs_text
    return None if describe is None else describe(**(options or {}))


def get_dataset(name: str, **options: Any) -> GroundTruthData:
    """The ground-truth dataset (factor grid) registered as ``name``, e.g. ``"dsprites-procedural"``.

    Real datasets are read from the data root (:func:`slowvae.data.paths.data_root`); a missing
    one raises :class:`~slowvae.data.paths.MissingDataError` naming ``slowvae data download``.
    """
    entry, carried = dataset_entry(name)
    return entry.dataset(**carried, **options)


def get_pair_source(name: str, transitions: Transitions | None = None, **options: Any) -> PairSource:
    """The PairSource for dataset ``name``.

    A ground-truth dataset is moved by ``transitions`` (LAP or LOC; required). SmallNORB's
    instance is a nuisance drawn from the sampling generator. The natural sources
    (``natural-sprites``, ``natural-sprites-binned``, ``natural-like``, ``kitti-masks``) move by
    their data's own transitions: ``transitions`` is ignored for them, and the source's
    ``transition_rule`` says what moves it. So are the user's own sequences, ``frames:PATH``
    (options ``max_dt``, ``binary``, ``truth``, and ``progress`` for their one-time decoding).
    """
    entry, carried = dataset_entry(name)
    return entry.pair_source(transitions, **carried, **options)


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _plugin_entry(name: str, ep: Any) -> DatasetEntry:
    try:
        obj = ep.load()
    except Exception as err:  # a broken plugin is reported, not a traceback
        raise SlowVAEError(f"dataset {name!r} (entry point {ep.value}) failed to load: {err}") from None
    if isinstance(obj, DatasetEntry):
        return dataclasses.replace(obj, name=name, origin=f"entry point {ep.value}")
    if callable(obj):
        return DatasetEntry(name, source=f"entry point {ep.value}", pairs=obj, origin=f"entry point {ep.value}")
    raise SlowVAEError(f"dataset entry point {name!r} ({ep.value}) is neither a DatasetEntry nor a callable")
