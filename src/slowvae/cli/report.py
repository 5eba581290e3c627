"""`slowvae report PATH`: the HTML page of a run directory or of a study directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from slowvae.errors import SlowVAEError
from slowvae.text import count


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
    if not path.exists():
        raise SlowVAEError(f"{path} does not exist; give a run directory or a study directory")
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
    """The study page of ``study_dir``: every row of `slowvae study table`, with the UDR selection
    marked when the study's runs have been scored by UDR, and every run's state and scores."""
    from slowvae.cli.study import say_damaged
    from slowvae.report import StudyRun, write_study_report
    from slowvae.study import study_status, study_table
    from slowvae.study.core import run_dir
    from slowvae.study.table import metric_value, seed_values, trajectories

    damaged = say_damaged(study_dir)  # listed as failed, without a run page (their files cannot be read)
    status = study_status(study_dir)
    paths = {r["id"]: run_dir(study_dir, r["id"]) for r in status["runs"]}
    finished = {r["id"] for r in status["runs"] if r["state"] == "finished"}  # (damaged files: failed)
    results = {i: _read_results(p) if i in finished else {} for i, p in paths.items()}
    table = study_table(study_dir)
    if any("udr" in r for r in results.values()):  # UDR was used: show its choice (computed where missing)
        table["selection"] = study_table(study_dir, select="udr", progress=_say)["selection"]
    metrics = [k for k, v in (table["rows"][0] if table["rows"] else {}).items() if isinstance(v, dict) and "mean" in v]
    runs = [
        StudyRun(
            r["id"],
            paths[r["id"]] if paths[r["id"]].is_dir() and r["id"] not in damaged else None,
            r["state"],
            r["error"],
            {m: metric_value(results[r["id"]], m) for m in metrics} if r["state"] == "finished" else {},
        )
        for r in status["runs"]
    ]
    points = {m: seed_values(study_dir, table, m) for m in metrics}
    lines = {m: trajectories(study_dir, table, m) for m in dict.fromkeys(m.partition("@")[0] for m in metrics)}
    _say(f"writing the study page of {count(len(runs), 'run')} (and the run pages it links to that are missing)")
    return write_study_report(study_dir, status["name"], table, runs, points, out, trajectories=lines)


def _read_results(run_dir: Path) -> dict:
    from slowvae.report.run_page import read_results

    return read_results(run_dir) or {}


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def write_run_page(run_dir: Path, stream: TextIO | None = None) -> None:
    """Write ``RUN_DIR/report.html`` and print its path to ``stream`` (default standard output):
    the end of `slowvae train` and `slowvae evaluate`."""
    from slowvae.report import write_run_report

    print(f"report: {write_run_report(run_dir)}", file=stream or sys.stdout)
