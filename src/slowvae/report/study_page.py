"""The study page: the study table with its selection and per-metric figures, every run in a
sortable table linked to its run page, and the runs that failed or are missing with their errors.

The caller gives the table ``slowvae study table`` computes (``{"rows": [...], "selection": ...}``)
and the runs with their states; each run's page, log and config are read from its directory
(``STUDY_DIR/runs/<id>/``, an ordinary run directory).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slowvae import __version__, rundir
from slowvae.errors import SlowVAEError
from slowvae.report.figures import metric_panels_uri
from slowvae.report.render import figure_uri, render, setting_text, write_page
from slowvae.report.run_page import PAGE_FILE, read_log, write_run_report

STUDY_FILE = "study.toml"
#: keys of a table row that are not metrics
_ROW_KEYS = ("model", "dataset", "setting", "n", "n_failed", "n_missing", "selected")


@dataclass
class StudyRun:
    """One run of a study: its id, its directory (None when it was never started), its state
    (``finished``, ``failed``, ``running`` or ``pending``), the error of a failed run,
    and its value of each table metric (None where it has none)."""

    id: str
    path: Path | None
    state: str
    error: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)


def _metric_names(rows: Sequence[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if key not in _ROW_KEYS and isinstance(value, dict) and "mean" in value:
                names[key] = None
    return list(names)


def _chosen(selection: dict[str, Any] | None, row: dict[str, Any]) -> bool:
    """Whether a table row is one of the selection's chosen settings."""
    chosen = (selection or {}).get("chosen") or []
    return any(
        c.get("model") == row["model"] and c.get("dataset") == row["dataset"] and c.get("setting") == row.get("setting")
        for c in chosen
    )


def _row_labels(rows: Sequence[dict[str, Any]]) -> list[str]:
    """A label per table row naming what differs between rows: model, dataset, setting."""
    parts = [(row["model"], row["dataset"], setting_text(row.get("setting") or {})) for row in rows]
    varying = [i for i in range(3) if len({p[i] for p in parts}) > 1] or [0]
    return [" · ".join(p[i] for i in varying) for p in parts]


def _run_record(run: StudyRun, page_dir: Path) -> dict[str, Any]:
    """What the run table shows of one run."""
    record: dict[str, Any] = {
        "id": run.id,
        "path": run.path,
        "state": run.state,
        "error": run.error,
        "link": None,
        "config": {},
        "hyper": {},
        "scores": run.scores,
        "step": None,
        "wall": None,
    }
    if run.path is None or not (run.path / rundir.CONFIG_FILE).is_file():
        return record
    config = rundir.read_config(run.path).get("config", {})
    records = read_log(run.path)
    seconds = [r.get("seconds") for r in records]
    page = run.path / PAGE_FILE
    record.update(
        config=config,
        hyper=config.get("hyper", {}),
        step=records[-1]["step"] if records else 0,
        wall=sum(seconds) if records and all(isinstance(s, (int, float)) for s in seconds) else None,
        link=Path(os.path.relpath(page, page_dir)).as_posix() if page.is_file() else None,
    )
    return record


def _trajectory_panels(
    rows: Sequence[dict[str, Any]], trajectories: dict[str, list[dict[str, Any]]] | None
) -> list[dict[str, str]]:
    """One figure per metric with scores at more than one step (``trajectories``: metric -> a
    ``{"steps", "mean", "std"}`` line per table row)."""
    from slowvae import viz

    panels = []
    for metric, lines in (trajectories or {}).items():
        if any(len(line["steps"]) > 1 for line in lines):
            fig = viz.trajectory_figure(metric, _row_labels(rows), lines)
            panels.append({"metric": metric, "uri": figure_uri(fig)})
    return panels


def study_context(
    study_dir: Path,
    name: str,
    table: dict[str, Any],
    runs: Sequence[StudyRun],
    points: dict[str, list[list[float]]] | None,
    page_dir: Path,
    trajectories: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Everything the study page shows. ``page_dir`` is the folder of the page (for links);
    ``trajectories`` maps a metric to one line per table row against the step."""
    rows = [dict(row, selected=_chosen(table.get("selection"), row)) for row in table.get("rows", [])]
    metrics = _metric_names(rows)
    records = [_run_record(run, page_dir) for run in runs]
    selection = table.get("selection")
    panels = []
    for metric in metrics if rows else []:
        cells = [row.get(metric) or {} for row in rows]
        uri = metric_panels_uri(
            _row_labels(rows),
            metric,
            [c.get("mean") for c in cells],
            [c.get("std") for c in cells],
            (points or {}).get(metric) or [[] for _ in rows],
            [row["selected"] or selection is None for row in rows],
        )
        panels.append({"metric": metric, "uri": uri})
    # hyperparameters that differ between runs get their own columns in the run table
    hyper_keys = sorted({k for r in records for k in r["hyper"]})
    varying = [k for k in hyper_keys if len({repr(r["hyper"].get(k)) for r in records if r["config"]}) > 1]
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.state] = counts.get(run.state, 0) + 1
    return {
        "title": name,
        "path": str(Path(study_dir).resolve()),
        "rows": rows,
        "metrics": metrics,
        "selection": selection,
        "notes": [entry["note"] for entry in table.get("mixed_ends") or []],
        "panels": panels,
        "trajectories": _trajectory_panels(rows, trajectories),
        "runs": records,
        "varying": varying,
        "problems": [r for r in records if r["state"] != "finished" or r["error"]],
        "counts": counts,
        "generated": time.strftime("%Y-%m-%d %H:%M %Z"),
        "version": __version__,
    }


def write_study_report(
    study_dir: Path | str,
    name: str,
    table: dict[str, Any],
    runs: Sequence[StudyRun],
    points: dict[str, list[list[float]]] | None = None,
    out: Path | str | None = None,
    trajectories: dict[str, list[dict[str, Any]]] | None = None,
) -> Path:
    """Write the study page (default ``STUDY_DIR/report.html``) and the run page of every run with a
    config.json that has none yet (the study page links to them). Returns the study page's path.

    ``table`` is the study table dict (``{"rows": [...], "selection": None | {"chosen": [...], ...}}``,
    every row, selected or not); ``points`` maps a metric to each row's per-seed values for its
    figure; ``trajectories`` maps a metric to each row's ``{"steps", "mean", "std"}`` against the step."""
    study_dir = Path(study_dir)
    if not (study_dir / STUDY_FILE).is_file():
        raise SlowVAEError(f"{study_dir} is not a study directory (no {STUDY_FILE}); run one with `slowvae study run`")
    out = Path(out) if out else study_dir / PAGE_FILE
    for run in runs:
        if run.path is not None and (run.path / rundir.CONFIG_FILE).is_file() and not (run.path / PAGE_FILE).is_file():
            write_run_report(run.path)
    context = study_context(study_dir, name, table, runs, points, out.resolve().parent, trajectories)
    html = render("study.html.j2", context)
    return write_page(out, html)
