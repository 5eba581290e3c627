"""What each dataset is, where it comes from, and whether it is here: the table behind
``slowvae data list`` and ``slowvae data download NAME`` (sources: docs/datasets.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from slowvae.data.download import (
    ChecksumRecord,
    Progress,
    Remote,
    Warn,
    check_file,
    fetch,
    folder_size,
    human_size,
    safe_extract,
)
from slowvae.data.paths import data_root
from slowvae.errors import SlowVAEError


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset name: its factors, size, licence, source, files and the step that makes the
    downloaded files ready to map (conversion, extraction)."""

    name: str
    factors: str
    size: str
    licence: str
    source: str
    folder: str | None = None  # sub-folder of the data root; None: built in, nothing to fetch
    remotes: tuple[Remote, ...] = ()
    prepare: Callable[[Path], object] | None = None
    note: str = ""
    same_files_as: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def builtin(self) -> bool:
        return self.folder is None


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


_DSPRITES_BASE = ("https://github.com/deepmind/dsprites-dataset/raw/master/",
                  "https://github.com/google-deepmind/dsprites-dataset/raw/master/",
                  "https://raw.githubusercontent.com/deepmind/dsprites-dataset/master/")
_MPI3D_MD5 = {"toy": "55889cb7c7dfc655d6e0277beee88868", "realistic": "59a6225b88b635365f70c91b3e52f70f",
              "real": "0f33f609918fb5c97996692f91129802"}
_NORB = (
    ("5x46789x9x18x6x2x96x96-training", "dat", "66054832f9accfe74a0f4c36a75bc0a2", 131_896_188),
    ("5x46789x9x18x6x2x96x96-training", "cat", "23c8b86101fbf0904a000b43d3ed2fd9", 348),
    ("5x46789x9x18x6x2x96x96-training", "info", "51dee1210a742582ff607dfd94e332e3", 71_052),
    ("5x01235x9x18x6x2x96x96-testing", "dat", "e4ad715691ed5a3a5f138751a4ceb071", 130_799_817),
    ("5x01235x9x18x6x2x96x96-testing", "cat", "5aa791cd7e6016cf957ce9bdb93b8603", 347),
    ("5x01235x9x18x6x2x96x96-testing", "info", "a9454f3864d7fd4bb3ea7fc3eb84924e", 10_428),
)


def _mpi3d(variant: str) -> DatasetInfo:
    name = f"mpi3d_{variant}.npz"
    return DatasetInfo(
        name=f"mpi3d-{variant}",
        factors="color 6, shape 6, size 2, height 3, background 3, horizontal 40, vertical 40",
        size="12.7 GB", licence="CC-BY-4.0", source="huggingface.co/datasets/waleedgondal/mpi3d",
        folder=f"mpi3d_{variant}",
        remotes=(Remote(name, (
            f"https://huggingface.co/datasets/waleedgondal/mpi3d/resolve/main/{name}",
            f"https://storage.googleapis.com/disentanglement_dataset/Final_Dataset/{name}",
        ), known_md5=(_MPI3D_MD5[variant],)),),
        prepare=_prepare_mpi3d(variant),
        note="no checksum for the 2025 re-upload: the first download's sha256 is recorded",
    )


_NATURAL_CSV = Remote("downscale_keepaspect.csv", (
    "https://zenodo.org/records/3948069/files/downscale_keepaspect.csv?download=1",
    "https://zenodo.org/record/3948069/files/downscale_keepaspect.csv?download=1",
))

INFO: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("dsprites-procedural", "shape 3, scale 6, orientation 40, x 32, y 32", "-",
                    "MIT (this package)", "rendered on demand (approximation of dSprites)"),
        DatasetInfo(
            "dsprites", "shape 3, scale 6, orientation 40, x 32, y 32", "26 MB", "Apache-2.0",
            "github.com/deepmind/dsprites-dataset", folder="dsprites",
            remotes=(Remote("dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
                            tuple(b + "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" for b in _DSPRITES_BASE),
                            md5="7da33b31b13a06f4b04a70402ce90c2e"),),
            prepare=_prepare_dsprites,
        ),
        DatasetInfo(
            "shapes3d", "floor hue 10, wall hue 10, object hue 10, scale 8, shape 4, orientation 15", "268 MB",
            "Apache-2.0", "storage.googleapis.com/3d-shapes", folder="3dshapes",
            remotes=(Remote("3dshapes.h5", ("https://storage.googleapis.com/3d-shapes/3dshapes.h5",),
                            md5="099a2078d58cec4daad0702c55d06868",
                            sha256="0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785",
                            size=267_573_662),),
            note="needs h5py (pip install 'slowvae[hdf5]')",
        ),
        _mpi3d("toy"),
        _mpi3d("realistic"),
        _mpi3d("real"),
        DatasetInfo(
            "cars3d", "elevation 4, azimuth 24, car 183", "unknown", "no licence stated",
            "scottreed.info (Reed et al. 2015)", folder="cars",
            remotes=(Remote("nips2015-analogy-data.tar.gz", (
                "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz",
                "http://www-personal.umich.edu/~reedscot/files/nips2015-analogy-data.tar.gz",
            ), md5="4e866a7919c1beedf53964e6f7a23686"),),
            prepare=_prepare_cars,
        ),
        DatasetInfo(
            "smallnorb", "category 5, instance 10 (nuisance), elevation 9, azimuth 18, lighting 6",
            "263 MB", "no licence stated", "cs.nyu.edu/~ylclab/data/norb-v1.0-small",
            folder="small_norb",
            remotes=tuple(
                Remote(f"smallnorb-{chunk}-{kind}.mat.gz",
                       (f"https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/smallnorb-{chunk}-{kind}.mat.gz",),
                       md5=md5, size=size)
                for chunk, kind, md5, size in _NORB
            ),
            prepare=_prepare_norb,
        ),
        DatasetInfo(
            "natural-sprites", "x, y, scale (continuous; MCC only), angle 40, shape 4", "~10 MB",
            "see Zenodo record 3948069", "zenodo.org/record/3948069 (YouTube-VIS masks)", folder="natural_sprites",
            remotes=(_NATURAL_CSV,), prepare=_prepare_natural,
            note="no published checksum: the first download's sha256 is recorded",
        ),
        DatasetInfo(
            "natural-sprites-binned", "x 32, y 32, scale 6, angle 40, shape 4", "~10 MB",
            "see Zenodo record 3948069", "zenodo.org/record/3948069 (same CSV)", folder="natural_sprites",
            remotes=(_NATURAL_CSV,), prepare=_prepare_natural, same_files_as="natural-sprites",
        ),
        DatasetInfo("natural-like", "x, y, scale (continuous; MCC only), angle 40, shape 4", "-",
                    "MIT (this package)", "synthetic: generalized-Laplace steps fitted to YouTube-VOS"),
        DatasetInfo(
            "kitti-masks", "y, x, area (continuous; MCC only)", "~350 MB", "CC BY-NC-SA 3.0 (KITTI MOTS)",
            "zenodo.org/record/3931823, or `data build kitti-masks --mots DIR`", folder="kitti",
            remotes=(Remote("kitti_peds_v2.pickle", (
                "https://zenodo.org/records/3931823/files/kitti_peds_v2.pickle?download=1",
                "https://zenodo.org/record/3931823/files/kitti_peds_v2.pickle?download=1",
            )),),
            prepare=_prepare_kitti,
            note="no published checksum: the first download's sha256 is recorded",
        ),
    )
}


def info(name: str) -> DatasetInfo:
    try:
        return INFO[name]
    except KeyError:
        raise SlowVAEError(f"unknown dataset {name!r}; known: {', '.join(INFO)}") from None


def status(name: str, root: Path | None = None, *, verify: bool = True) -> dict[str, str]:
    """``{"name", "status", "where", "size"}`` of a dataset. Status: ``built-in``, ``present``,
    ``missing``, ``incomplete`` (some files, or a resumable ``.part``), ``checksum mismatch``,
    ``changed`` (no published checksum, differs from the first download: a warning),
    ``present (not verified)`` (``verify=False`` and no recorded hash)."""
    d = info(name)
    if d.builtin:
        return {"name": name, "status": "built-in", "where": "-", "size": "-"}
    root = Path(root) if root is not None else data_root()
    folder = root / d.folder
    present = [r for r in d.remotes if (folder / r.filename).is_file()]
    states = []
    if len(present) == len(d.remotes):
        record = ChecksumRecord(root)
        for r in d.remotes:
            path = folder / r.filename
            if not verify and record.cached_hashes(path) is None:
                states.append("unverified")
            else:
                states.append(check_file(path, r, record))
        if "mismatch" in states:
            state = "checksum mismatch"
        elif "changed" in states:
            state = "changed"
        elif "unverified" in states:
            state = "present (not verified)"
        else:
            state = "present"
    elif present or any((folder / (r.filename + ".part")).is_file() for r in d.remotes):
        state = "incomplete"
    else:
        state = "missing"
    size = human_size(folder_size(folder)) if state != "missing" else f"({d.size} to fetch)" if d.size != "unknown" else "(size unknown)"
    return {"name": name, "status": state, "where": str(folder), "size": size}


def download_dataset(
    name: str,
    root: Path | None = None,
    *,
    progress: Progress | None = None,
    warn: Warn | None = None,
    say: Callable[[str], None] | None = None,
) -> Path:
    """Fetch (if missing), check and prepare dataset ``name`` in the data root; its folder."""
    d = info(name)
    if d.builtin:
        raise SlowVAEError(f"{name} is built in: there is nothing to download")
    root = Path(root) if root is not None else data_root()
    folder = root / d.folder
    record = ChecksumRecord(root)
    for remote in d.remotes:
        fetch(remote, folder, record, progress=progress, warn=warn)
    if d.prepare is not None:
        if say:
            say(f"preparing {name} in {folder}")
        d.prepare(folder)
    return folder
