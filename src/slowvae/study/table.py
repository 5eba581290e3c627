"""The study table: one row per (model, dataset, hyperparameter setting), mean ± std over seeds.

:func:`study_table` returns the table as a JSON-ready dict (what ``slowvae study table --format
json`` prints and what the report's study page renders); :func:`render` writes it as Markdown,
CSV or LaTeX; :func:`save_figures` draws one figure per metric. Missing and failed runs are
counted in every row, never dropped silently.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slowvae import rundir
from slowvae.errors import SlowVAEError
from slowvae.metrics.registry import METRICS, headline_key
from slowvae.results import read_results
from slowvae.study import runner
from slowvae.study.core import open_study, run_dir, run_state, step_scores

FORMATS = ("md", "csv", "json", "tex")


def metric_value(results: dict[str, Any], metric: str, steps: dict[str, dict[str, Any]] | None = None) -> float | None:
    """``metric`` of a results.json: a suite name (its headline key, from the metric registry), any
    numeric key, a dotted path into a nested one (``mcc_per_factor.shape``), or ``<metric>@<step>``
    for a checkpoint scored through ``at_steps`` (from ``steps``, step -> that step's
    results_step_N.json, else from the results' ``at_steps`` summary) or for the run's end when it
    ended at that step."""
    name, _, step = metric.partition("@")
    value: Any = results
    if step:
        value = (steps or {}).get(step) or results.get("at_steps", {}).get(step)
        value = value or (results if str(results.get("step")) == step else {})
    for key in headline_key(name).split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _numeric_paths(results: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted paths of a results.json's numeric values (what a column can show)."""
    paths = []
    for key, value in results.items():
        if isinstance(value, dict) and key not in ("settings", "timing", "study_evaluate", "at_steps"):
            paths += _numeric_paths(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            paths.append(prefix + key)
    return paths


def _mean_std(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "std": None}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None}


def _groups(study_dir: Path) -> list[dict[str, Any]]:
    """The study's rows with their runs: model, dataset, setting, and per run (seed, state, results)."""
    study = open_study(study_dir)
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for spec in study.runs:
        group = groups.setdefault(
            spec.group, {"model": spec.model, "dataset": spec.dataset, "setting": dict(spec.setting), "runs": []}
        )
        state = run_state(study_dir, spec).state
        record = read_results(run_dir(study_dir, spec.id)) if state == "finished" else None
        steps = {step: r.to_dict() for step, r in step_scores(study_dir, spec).items()}
        config = (
            (runner.read_json(run_dir(study_dir, spec.id) / rundir.CONFIG_FILE) or {}).get("config", {})
            if record or steps
            else {}
        )
        group["runs"].append(
            {
                "id": spec.id,
                "seed": spec.seed,
                "state": state,
                "results": record.to_dict() if record else {},
                "steps": steps,
                "final_step": spec.config["steps"],
                "precision": config.get("precision", "unknown"),
            }
        )
    return list(groups.values())


def default_metrics(study_dir: Path | str) -> list[str]:
    """The study's [evaluate] metrics: the table's columns unless others are asked for."""
    return list(open_study(study_dir).evaluate["metrics"])


def study_table(
    study_dir: Path | str,
    *,
    metrics: list[str] | None = None,
    select: str | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """The table of the study in ``study_dir`` as a dict::

        {"rows": [{"model", "dataset", "setting": {...}, "n", "n_failed", "n_missing",
                   "<metric>": {"mean", "std"}, ...}],
         "selection": None | {"method": "udr", "chosen": [...], "notes": [...]},
         "precisions": {resolved training precision: runs with a score, finished or at a step},
         "mixed_ends": [{"row": label, "ends": {seed: step}, "note": text}], only when some row's
                        runs end apart}

    ``n`` counts finished runs (seeds), ``n_failed`` failed ones, ``n_missing`` those not finished
    yet; mean and std (sample std, None below two values) are over the finished runs that have the
    metric. ``metrics`` are suite names (``dci`` shows ``dci_disentanglement``), results.json keys
    or ``mcc@1000`` for an ``at_steps`` checkpoint (default: the study's metrics). With
    ``select="udr"`` only each (model, dataset)'s setting with the highest median UDR remains
    (UDR is computed first where missing; ``progress`` receives its messages).
    """
    study_dir = Path(study_dir)
    metrics = metrics or default_metrics(study_dir)
    selection = None
    if select is not None:
        if select != "udr":
            raise SlowVAEError(f"--select {select!r}: the only selection method is udr")
        from slowvae.study.udr import select_by_udr

        selection = select_by_udr(study_dir, progress=progress)
    rows, groups = [], _groups(study_dir)
    for group in groups:
        if selection is not None and not _chosen(selection, group):
            continue
        finished = [r for r in group["runs"] if r["state"] == "finished"]
        row: dict[str, Any] = {
            "model": group["model"],
            "dataset": group["dataset"],
            "setting": group["setting"],
            "n": len(finished),
            "n_failed": sum(r["state"] == "failed" for r in group["runs"]),
            "n_missing": sum(r["state"] in ("pending", "running") for r in group["runs"]),
        }
        for metric in metrics:
            row[metric] = _mean_std(_values(group["runs"], metric))
        rows.append(row)
    _check_columns(study_dir, groups, rows, metrics)
    # runs in a study file's "auto" precision resolve per machine (bf16 where native, else fp32)
    precisions = collections.Counter(
        r["precision"] for g in groups for r in g["runs"] if r["state"] == "finished" or r["steps"]
    )
    return {
        "rows": rows,
        "selection": selection,
        "precisions": dict(sorted(precisions.items())),
        **({"mixed_ends": mixed} if (mixed := _mixed_ends(groups, rows)) else {}),
    }


def _runs_by_row(groups: list[dict[str, Any]]) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    """A function from a table row to its group's runs."""

    def key(entry: dict[str, Any]) -> tuple[str, str, str]:
        return entry["model"], entry["dataset"], json.dumps(entry["setting"], sort_keys=True)

    by_key = {key(g): g["runs"] for g in groups}
    return lambda row: by_key[key(row)]


def _mixed_ends(groups: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose finished runs ended at different steps (a seed extended alone), each as
    ``{"row": label, "ends": {seed: step}, "note": the sentence saying so}``: their end-of-run
    columns mix those budgets."""
    runs_of = _runs_by_row(groups)
    mixed = []
    for row in rows:
        runs = runs_of(row)
        ends = {
            str(r["seed"]): r["results"].get("step") or r["final_step"]
            for r in sorted(runs, key=lambda r: r["seed"])
            if r["state"] == "finished"
        }
        if len(set(ends.values())) > 1:
            listed = ", ".join(f"seed {seed} at {step:,}" for seed, step in ends.items())
            note = (
                f"{row_label(row)}: the runs end at different steps ({listed}), so its end-of-run "
                "columns mix those budgets; compare at one step with METRIC@STEP columns."
            )
            mixed.append({"row": row_label(row), "ends": ends, "note": note})
    return mixed


def _values(runs: list[dict[str, Any]], metric: str) -> list[float]:
    """The runs' values of ``metric``: from finished runs, and for a ``METRIC@STEP`` column also
    from runs still training that have passed (and scored) that step."""
    return [
        v
        for r in runs
        if (r["state"] == "finished" or "@" in metric)
        and (v := metric_value(r["results"], metric, r["steps"])) is not None
    ]


def _check_columns(
    study_dir: Path, groups: list[dict[str, Any]], rows: list[dict[str, Any]], metrics: list[str]
) -> None:
    """Refuse a column that no finished run has (a misspelt name would otherwise be a column of dashes)."""
    if not any(row["n"] for row in rows):
        return
    empty = [m for m in metrics if all(row[m]["mean"] is None for row in rows)]
    if not empty:
        return
    known: set[str] = set()
    for group in groups:
        for run in group["runs"]:
            known.update(_numeric_paths(run["results"]))
    hint = "; run `slowvae study udr DIR` first" if "udr" in empty else ""
    raise SlowVAEError(
        f"no finished run of {study_dir} has {', '.join(empty)}{hint}. Columns can be suite names "
        f"({', '.join([*METRICS, 'udr'])}), METRIC@STEP for at_steps checkpoints, or results.json "
        f"keys: {', '.join(sorted(known))}"
    )


def _chosen(selection: dict[str, Any], group: dict[str, Any]) -> bool:
    return any(
        c["model"] == group["model"] and c["dataset"] == group["dataset"] and c["setting"] == group["setting"]
        for c in selection["chosen"]
    )


def seed_values(study_dir: Path | str, table: dict[str, Any], metric: str) -> list[list[float]]:
    """Per table row, the finished seeds' values of ``metric`` (for figures)."""
    runs_of = _runs_by_row(_groups(Path(study_dir)))
    return [_values(runs_of(row), metric) for row in table["rows"]]


def trajectories(study_dir: Path | str, table: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    """Per table row, ``metric`` against the step: ``{"steps": [...], "mean": [...], "std": [...],
    "n": [...], "seeds": [...]}`` over the seeds scored at each ``at_steps`` entry (runs still
    training included) and at the end (finished runs); std is None for one seed. ``seeds`` holds
    each run's own line, ``{"seed", "steps", "values"}``, so that a figure can show where the mean
    changes only because a seed stops (or has not yet reached a step)."""
    runs_of = _runs_by_row(_groups(Path(study_dir)))
    out = []
    for row in table["rows"]:
        seeds = [_run_trajectory(run, metric) for run in sorted(runs_of(row), key=lambda r: r["seed"])]
        found: dict[int, list[float]] = {}
        for line in seeds:
            for step, value in zip(line["steps"], line["values"]):
                found.setdefault(step, []).append(value)
        steps = sorted(found)
        stats = [_mean_std(found[s]) for s in steps]
        out.append(
            {
                "steps": steps,
                "mean": [st["mean"] for st in stats],
                "std": [st["std"] for st in stats],
                "n": [len(found[s]) for s in steps],
                "seeds": [line for line in seeds if line["steps"]],
            }
        )
    return out


def _run_trajectory(run: dict[str, Any], metric: str) -> dict[str, Any]:
    """One run's ``metric`` at its scored steps and, when finished, at its end."""
    found: dict[int, float] = {}
    for step in {**run["results"].get("at_steps", {}), **run["steps"]}:
        if (v := metric_value(run["results"], f"{metric}@{step}", run["steps"])) is not None:
            found[int(step)] = v
    final = metric_value(run["results"], metric) if run["state"] == "finished" else None
    if final is not None:
        found[int(run["results"].get("step") or run["final_step"])] = final
    steps = sorted(found)
    return {"seed": run["seed"], "steps": steps, "values": [found[s] for s in steps]}


def row_label(row: dict[str, Any]) -> str:
    """A table row as one line: model, dataset, setting."""
    return f"{row['model']} · {row['dataset']} · {_setting_text(row['setting'])}"


def save_trajectories(
    study_dir: Path | str, table: dict[str, Any], out_dir: Path | str, stem: str = "table"
) -> list[Path]:
    """One PNG per metric of the table with scores at more than one step
    (``<stem>-<metric>-trajectory.png`` in ``out_dir``): each row's mean over seeds against the
    step, with a ± std band."""
    from slowvae import viz

    paths = []
    for metric in dict.fromkeys(m.partition("@")[0] for m in _metric_names(table)):
        lines = trajectories(study_dir, table, metric)
        if not any(len(line["steps"]) > 1 for line in lines):
            continue
        path = Path(out_dir) / f"{stem}-{metric}-trajectory.png"
        viz.save_trajectories(metric, [row_label(r) for r in table["rows"]], lines, path)
        paths.append(path)
    return paths


def _setting_text(setting: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in sorted(setting.items())) or "defaults"


def _cell(stat: dict[str, float | None], digits: int = 3) -> str:
    if stat["mean"] is None:
        return "-"
    if stat["std"] is None:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def _metric_names(table: dict[str, Any]) -> list[str]:
    fixed = {"model", "dataset", "setting", "n", "n_failed", "n_missing"}
    return [k for k in table["rows"][0] if k not in fixed] if table["rows"] else []


def _csv(table: dict[str, Any], metrics: list[str]) -> str:
    """The table as CSV: one mean and one std column per metric."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    fixed = ["model", "dataset", "setting", "n", "n_failed", "n_missing"]
    writer.writerow([*fixed, *[f"{m}_{s}" for m in metrics for s in ("mean", "std")]])
    for row in table["rows"]:
        writer.writerow(
            [
                row["model"],
                row["dataset"],
                json.dumps(row["setting"], sort_keys=True),
                row["n"],
                row["n_failed"],
                row["n_missing"],
                *["" if row[m][s] is None else f"{row[m][s]:.6g}" for m in metrics for s in ("mean", "std")],
            ]
        )
    return buf.getvalue()


def _grid(header: list[str], rows: list[list[str]], fmt: str) -> list[str]:
    """Header and rows as Markdown or LaTeX (booktabs) lines."""
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(cells) + " |" for cells in rows]

    def tex(text: str) -> str:
        return text.replace("±", "$\\pm$").replace("_", "\\_").replace("&", "\\&")

    lines = [
        "\\begin{tabular}{lll" + "r" * (len(header) - 3) + "}",
        "\\toprule",
        " & ".join(tex(h) for h in header) + " \\\\",
        "\\midrule",
    ]
    lines += [" & ".join(tex(c) for c in cells) + " \\\\" for cells in rows]
    return lines + ["\\bottomrule", "\\end{tabular}"]


def _notes(table: dict[str, Any]) -> list[str]:
    """The lines under the table: the selection, the training precisions and rows whose runs end apart."""
    lines = []
    if table.get("selection"):
        chosen = table["selection"]["chosen"]
        notes = table["selection"].get("notes", [])
        lines += [
            "",
            f"Settings selected by median UDR over seeds ({len(chosen)} model/dataset pairs)"
            + ("; notes: " + "; ".join(notes) if notes else ""),
        ]
    precisions = table.get("precisions") or {}
    if precisions:
        counts = ", ".join(f"{p} ({n} run{'s' * (n != 1)})" for p, n in precisions.items())
        mixed = (
            ". Mixed: `auto` resolves per machine (bf16 where native, else fp32); pin `precision` in the "
            "study file to compare like with like."
        )
        lines += ["", f"Training precision: {counts}" + (mixed if len(precisions) > 1 else "")]
    for entry in table.get("mixed_ends") or []:
        lines += ["", entry["note"]]
    return lines


def render(table: dict[str, Any], fmt: str = "md") -> str:
    """The table as ``md`` (default), ``csv``, ``json`` or ``tex`` text."""
    if fmt not in FORMATS:
        raise SlowVAEError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(table, indent=2) + "\n"
    metrics = _metric_names(table)
    if fmt == "csv":
        return _csv(table, metrics)
    header = ["model", "dataset", "setting", *metrics, "n", "failed", "missing"]
    rows = [
        [
            row["model"],
            row["dataset"],
            _setting_text(row["setting"]),
            *[_cell(row[m]) for m in metrics],
            str(row["n"]),
            str(row["n_failed"]),
            str(row["n_missing"]),
        ]
        for row in table["rows"]
    ]
    return "\n".join(_grid(header, rows, fmt) + _notes(table)) + "\n"


def save_figures(study_dir: Path | str, table: dict[str, Any], out_dir: Path | str, stem: str = "table") -> list[Path]:
    """One PNG per metric in ``out_dir`` (``<stem>-<metric>.png``): every finished seed as a point,
    and each row's mean with a ±std error bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = [f"{r['model']}\n{r['dataset']}\n{_setting_text(r['setting'])}" for r in table["rows"]]
    paths = []
    for metric in _metric_names(table):
        values = seed_values(study_dir, table, metric)
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) + 1), 3.8))
        for i, (row, seeds) in enumerate(zip(table["rows"], values)):
            if seeds:
                ax.scatter(
                    [i + 0.12] * len(seeds), seeds, s=14, color="0.55", zorder=2, label="seed" if i == 0 else None
                )
            stat = row[metric]
            if stat["mean"] is not None:
                ax.errorbar(
                    [i - 0.12],
                    [stat["mean"]],
                    yerr=[stat["std"] or 0.0],
                    fmt="o",
                    color="C0",
                    capsize=4,
                    zorder=3,
                    label="mean ± std" if i == 0 else None,
                )
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(
            labels, fontsize=7, rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center"
        )
        ax.set_ylabel(metric)
        ax.set_xlim(-0.6, len(labels) - 0.4)
        if any(values):
            ax.legend(fontsize=7, loc="best")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"{stem}-{metric.replace('@', '-at-')}.png"
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp, dpi=120)
        plt.close(fig)
        tmp.replace(path)
        paths.append(path)
    return paths


__all__ = [
    "FORMATS",
    "default_metrics",
    "render",
    "row_label",
    "save_figures",
    "save_trajectories",
    "seed_values",
    "study_table",
    "trajectories",
]
