"""The run page: what was trained, its curves, its scores and its figures, from a run directory.

Everything comes from files on disk: ``config.json``, ``metrics.jsonl``, ``results.json`` and
``figures/`` (correlation.png, reconstructions.png, traversals/z<k>.gif). A part that is absent
(a run not evaluated yet, figures skipped) is named on the page with the command that makes it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from slowvae import __version__, rundir
from slowvae.data.registry import pairs_text
from slowvae.errors import SlowVAEError
from slowvae.metrics.registry import METRICS, suite_metrics
from slowvae.report.figures import curves_uri
from slowvae.report.render import duration, file_uri, render, setting_text, write_page

PAGE_FILE = "report.html"
#: log fields that are not loss terms
_NOT_TERMS = ("step", "images_per_s", "seconds")
#: suite metrics whose flat keys the run page lists (MCC has its own section)
_SUITE_METRICS = suite_metrics()


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` in step order (a line cut by a kill is skipped)."""
    path = Path(run_dir) / rundir.LOG_FILE
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return sorted(records, key=lambda r: r["step"])


def read_results(run_dir: Path) -> dict[str, Any] | None:
    """``results.json`` of a run, or None when the run has not been evaluated."""
    path = Path(run_dir) / rundir.RESULTS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SlowVAEError(
            f"{path} is not valid JSON ({err}); evaluate again with `slowvae evaluate {run_dir}`"
        ) from None


def loss_terms(records: list[dict[str, Any]]) -> list[str]:
    """Every numeric log field except step, throughput and time, in first-seen order."""
    terms: dict[str, None] = {}
    for record in records:
        for key, value in record.items():
            if key not in _NOT_TERMS and isinstance(value, (int, float)) and not isinstance(value, bool):
                terms[key] = None
    return list(terms)


def matched_order(latent_for_factor: dict[str, int], z_dim: int) -> list[tuple[int, str | None]]:
    """Latents in the order of the factors they match, then the unmatched ones: (latent, factor or None)."""
    order: list[tuple[int, str | None]] = [(int(k), name) for name, k in latent_for_factor.items()]
    matched = {k for k, _ in order}
    return order + [(k, None) for k in range(z_dim) if k not in matched]


def _transitions_text(config: dict[str, Any]) -> str:
    own = pairs_text(str(config.get("dataset")), config.get("dataset_options"))
    if own is not None:  # the data's own rule: LAP / LOC settings do not apply
        return own
    if config.get("transitions") == "laplace":
        rate = config.get("data_rate")
        return f"LAP (Laplace), data rate {'U(1, 10) per pair' if rate is None else rate}"
    k = config.get("k")
    return f"LOC (uniform), {'k ~ U{1..K-1} per pair' if k is None else f'k = {k}'} factors per pair"


def _training_rows(
    meta: dict[str, Any], records: list[dict[str, Any]], results: dict[str, Any] | None
) -> list[tuple[str, str]]:
    """(label, value) rows of the "what was trained" table."""
    config = meta.get("config", {})
    trained_on = meta.get("trained_on")
    device = (
        f"{trained_on['device']} × {trained_on['processes']} process(es)"
        if trained_on
        else f"{config.get('device')} (as configured)"
    )
    done = records[-1]["step"] if records else 0
    seconds = [r["seconds"] for r in records if isinstance(r.get("seconds"), (int, float))]
    wall = sum(seconds) if records and len(seconds) == len(records) else None
    speed = [r["images_per_s"] for r in records if isinstance(r.get("images_per_s"), (int, float))]
    rows = [
        ("model", str(config.get("model"))),
        ("hyperparameters", setting_text(config.get("hyper", {}))),
        ("dataset", str(config.get("dataset"))),
        ("transitions", _transitions_text(config)),
        ("latents", str(config.get("z_dim"))),
        (
            "steps",
            f"{done:,} of {config.get('steps', 0):,}" + (f" (evaluated at {results['step']:,})" if results else ""),
        ),
        ("batch", f"{config.get('batch_pairs')} pairs per step and process"),
        ("optimizer", f"Adam, learning rate {config.get('lr')}"),
        ("precision", str(config.get("precision"))),
        ("device", device),
        ("seed", str(config.get("seed"))),
        (
            "wall time",
            f"training {duration(wall)}" + (f" · evaluation {duration(results.get('seconds'))}" if results else ""),
        ),
        (
            "throughput",
            f"{sum(speed) / len(speed):,.0f} images/s (mean of the log intervals)" if speed else "not recorded",
        ),
        ("created", str(meta.get("created", "not recorded"))),
        ("slowvae version", str(meta.get("slowvae_version", "not recorded"))),
        ("git commit", str(meta.get("git_commit") or "not recorded")),
        ("torch version", str(meta.get("torch_version", "not recorded"))),
    ]
    return rows


def _suite_rows(results: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (metric, key, value, settings) of the metric suite in results.json, and its global settings."""
    suite = results.get("settings", {}).get("suite") or {}
    per_metric = suite.get("metric_settings", {})
    rows = []
    for metric in _SUITE_METRICS:
        keys = [k for k in METRICS[metric].result_keys if k in results]
        error = results.get(f"{metric}_error")
        if not keys and error is None:
            continue
        settings = {**per_metric.get(metric, {}), **suite.get("rows_used", {}).get(metric, {})}
        for key in keys or [metric]:
            rows.append(
                {
                    "metric": metric,
                    "key": key,
                    "value": results.get(key),
                    "error": error,
                    "settings": setting_text(settings),
                }
            )
    header = {k: suite[k] for k in ("preset", "fast", "seed") if k in suite}
    return rows, header


def run_context(run_dir: Path | str) -> dict[str, Any]:
    """Everything the run page shows, read from ``run_dir``."""
    run_dir = Path(run_dir)
    meta = rundir.read_config(run_dir)
    config = meta.get("config", {})
    records = read_log(run_dir)
    results = read_results(run_dir)
    terms = loss_terms(records)
    fig_dir = run_dir / "figures"

    scores = None
    traversals: list[dict[str, Any]] = []
    suite_rows: list[dict[str, Any]] = []
    suite_header: dict[str, Any] = {}
    if results is not None:
        per_factor = results.get("mcc_per_factor", {})
        latents = results.get("latent_for_factor", {})
        scores = {
            "mcc": results.get("mcc"),
            "mcc_pearson": results.get("mcc_pearson"),
            "mcc_untrained": results.get("mcc_untrained"),
            "mcc_note": results.get("mcc_note"),
            "factors": [{"name": n, "value": v, "latent": latents.get(n)} for n, v in per_factor.items()],
            "settings": results.get("settings", {}),
        }
        suite_rows, suite_header = _suite_rows(results)
        for latent, factor in matched_order(latents, int(config.get("z_dim", len(latents)))):
            uri = file_uri(fig_dir / "traversals" / f"z{latent}.gif")
            if uri is not None:
                traversals.append(
                    {"latent": latent, "factor": factor, "rho": per_factor.get(factor) if factor else None, "uri": uri}
                )
    return {
        "title": run_dir.resolve().name,
        "path": str(run_dir.resolve()),
        "config": config,
        "own_pairs": pairs_text(str(config.get("dataset")), config.get("dataset_options")) is not None,
        "training": _training_rows(meta, records, results),
        "curves": curves_uri(records, terms) if terms else None,
        "terms": terms,
        "log_records": len(records),
        "steps_done": records[-1]["step"] if records else 0,
        "scores": scores,
        "suite": suite_rows,
        "suite_header": suite_header,
        "correlation": file_uri(fig_dir / "correlation.png") if results else None,
        "reconstructions": file_uri(fig_dir / "reconstructions.png") if results else None,
        "traversals": traversals,
        "static_traversals": None if traversals or not results else file_uri(fig_dir / "traversals.png"),
        "generated": time.strftime("%Y-%m-%d %H:%M %Z"),
        "version": __version__,
    }


def write_run_report(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Write the run page of ``run_dir`` to ``out`` (default ``RUN_DIR/report.html``); returns its path."""
    run_dir = Path(run_dir)
    html = render("run.html.j2", run_context(run_dir))
    return write_page(Path(out) if out else run_dir / PAGE_FILE, html)
