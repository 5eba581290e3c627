"""``slowvae data``: list the datasets, download one, build KITTI Masks from MOTS annotations, or
remove the decoded-frame caches of ``frames:PATH`` inputs.

The data root is ``$SLOWVAE_DATA``, else ``$DISENTANGLEMENT_LIB_DATA``, else the user's cache
directory. Nothing is ever downloaded except by ``slowvae data download NAME``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "data",
        help="list, download or build the benchmark datasets",
        description="Datasets live in one data root: $SLOWVAE_DATA, else $DISENTANGLEMENT_LIB_DATA, "
        "else the user cache directory. Nothing downloads except `slowvae data download NAME`.",
    )
    p.add_argument("--root", type=Path, help="data root (overrides the environment)")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    ls = sub.add_parser("list", help="each dataset: present, missing or failing its checksum; where; how large")
    ls.add_argument("--no-verify", action="store_true", help="do not hash files that have no recorded checksum yet")
    ls.set_defaults(func=run_list)
    dl = sub.add_parser("download", help="fetch, check and prepare one dataset (resumes a partial download)")
    dl.add_argument("name", help="dataset name (see `slowvae data list`)")
    dl.set_defaults(func=run_download)
    build = sub.add_parser("build", help="build a dataset from its raw annotations (kitti-masks)")
    build.add_argument("name", choices=["kitti-masks"], help="dataset to build")
    build.add_argument(
        "--mots",
        type=Path,
        action="append",
        required=True,
        metavar="DIR",
        help="KITTI MOTS / MOTSChallenge annotations (instances/ PNGs or instances_txt/); repeatable",
    )
    build.add_argument("--out", type=Path, help="output pickle (default <root>/kitti/kitti_peds_v2.pickle)")
    build.add_argument(
        "--reference-quirk",
        action="store_true",
        help="reproduce the reference's [1:-1] id selection (drops the highest pedestrian id "
        "of windows without an ignore region); default: select pedestrians by id",
    )
    build.add_argument(
        "--min-area", type=int, default=30, help="pixels below which a frame splits a track (default 30)"
    )
    build.add_argument("--force", action="store_true", help="overwrite an existing output file")
    build.set_defaults(func=run_build)
    clean = sub.add_parser("clean", help="remove caches from the data root (frames: the decoded frames:PATH inputs)")
    clean.add_argument("what", choices=["frames"], help="which caches to remove")
    clean.set_defaults(func=run_clean)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _root(args: argparse.Namespace) -> Path:
    from slowvae.data.paths import data_root

    return args.root if args.root is not None else data_root()


def run_list(args: argparse.Namespace) -> int:
    from slowvae.data.paths import root_source
    from slowvae.data.store import listed_names, status

    root = _root(args)
    source = "--root" if args.root is not None else root_source()
    print(f"data root: {root}  (from {source})")
    rows = [status(name, root, verify=not args.no_verify) for name in listed_names()]
    widths = [max(len(r[k]) for r in rows) for k in ("name", "status", "size")]
    header = ("NAME", "STATUS", "SIZE", "WHERE")
    widths = [max(w, len(h)) for w, h in zip(widths, header)]
    print(f"{header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  {header[2]:<{widths[2]}}  {header[3]}")
    for r in rows:
        print(f"{r['name']:<{widths[0]}}  {r['status']:<{widths[1]}}  {r['size']:<{widths[2]}}  {r['where']}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from slowvae.data.store import download_dataset

    bars: dict[str, tqdm] = {}

    def progress(done: int, total: int | None, name: str) -> None:
        bar = bars.get(name)
        if bar is None:
            bar = bars[name] = tqdm(
                total=total, initial=done, desc=name, unit="B", unit_scale=True, dynamic_ncols=True, file=sys.stderr
            )
        bar.update(done - bar.n)

    def warn(msg: str) -> None:
        print(f"warning: {msg}", file=sys.stderr)

    try:
        folder = download_dataset(
            args.name, _root(args), progress=progress, warn=warn, say=lambda m: print(m, file=sys.stderr)
        )
    finally:
        for bar in bars.values():
            bar.close()
    print(f"{args.name}: ready in {folder}")
    return 0


def run_build(args: argparse.Namespace) -> int:
    from slowvae.data.kitti_masks import FOLDER, PICKLE, build_kitti_masks
    from slowvae.errors import SlowVAEError

    out = args.out or _root(args) / FOLDER / PICKLE
    if out.exists() and not args.force:
        raise SlowVAEError(f"{out} exists; pass --force to overwrite it or --out to write elsewhere")
    counts = build_kitti_masks(
        args.mots,
        out,
        reference_quirk=args.reference_quirk,
        min_area=args.min_area,
        progress=lambda m: print(m, file=sys.stderr),
    )
    print(
        f"kitti-masks: {counts['sequences']} sequences, {counts['masks']} masks, "
        f"{counts['transitions']} transitions -> {out}"
    )
    return 0


def run_clean(args: argparse.Namespace) -> int:
    from slowvae.data.download import human_size
    from slowvae.data.frames import cache_folder, clean_caches

    count, freed = clean_caches(_root(args))
    print(f"removed {count} frame cache(s), {human_size(freed)}, from {cache_folder(_root(args))}")
    return 0
