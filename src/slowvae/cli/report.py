"""`slowvae report PATH`: the HTML page of a run directory or of a study directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from slowvae.errors import SlowVAEError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write the HTML page of a run or a study (self-contained, opens offline)",
        description="Write RUN_DIR/report.html for a run directory (with config.json), or "
        "STUDY_DIR/report.html for a study directory (with study.toml) together with the run pages "
        "it links to that are missing. The page is one self-contained HTML file.",
    )
    p.add_argument("path", type=Path, metavar="RUN_DIR|STUDY_DIR")
    p.add_argument("--out", type=Path, metavar="FILE", help="write the page here instead (default PATH/report.html)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from slowvae import rundir
    from slowvae.report import STUDY_FILE, write_run_report

    path: Path = args.path
    if (path / STUDY_FILE).is_file():
        page = write_study_page(path, args.out)
    elif (path / rundir.CONFIG_FILE).is_file():
        page = write_run_report(path, args.out)
    else:
        raise SlowVAEError(
            f"{path} is neither a run directory (no {rundir.CONFIG_FILE}) nor a study directory (no {STUDY_FILE})"
        )
    print(f"report: {page}")
    return 0


def write_study_page(study_dir: Path, out: Path | None) -> Path:
    """The study page of ``study_dir`` from the study's table and run states."""
    from slowvae.report import write_study_report
    from slowvae.report.study_page import runs_on_disk

    print("writing the study page and missing run pages", file=sys.stderr)
    table, runs = runs_on_disk(study_dir)
    return write_study_report(study_dir, table, runs, out)


def write_run_page(run_dir: Path, stream: TextIO | None = None) -> None:
    """Write ``RUN_DIR/report.html`` and print its path to ``stream`` (default standard output):
    the end of `slowvae train` and `slowvae evaluate`."""
    from slowvae.report import write_run_report

    print(f"report: {write_run_report(run_dir)}", file=stream or sys.stdout)
