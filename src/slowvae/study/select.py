"""The follow-up study: each model's UDR-selected setting with N seeds (the reference protocol).

The new study keeps the first study's defaults, datasets and [evaluate] table, fixes each
model entry's hyperparameters to its selected setting and lists N seeds: the seeds already
finished first (they are reused through ``reuse``, not run again), then the group's seeds that
have not finished, then new ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from slowvae import rundir
from slowvae.errors import SlowVAEError
from slowvae.study.core import STUDY_FILE, open_study, run_state
from slowvae.study.spec import tomllib
from slowvae.study.udr import select_by_udr


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise SlowVAEError(f"cannot write {value!r} to TOML")


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def dump_toml(data: dict[str, Any], header: str = "") -> str:
    """A study dict as TOML: scalars first, then tables, then arrays of tables."""
    lines = [f"# {line}" for line in header.splitlines()]
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    arrays = {
        k: v
        for k, v in data.items()
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and k == "models"
    }
    for key, value in data.items():
        if key not in tables and key not in arrays:
            lines.append(f"{_key(key)} = {_toml_value(value)}")

    def table(prefix: str, values: dict[str, Any]) -> None:
        lines.extend(["", f"[{prefix}]"])
        nested = {
            k: v for k, v in values.items() if isinstance(v, dict) and all(isinstance(x, dict) for x in v.values())
        }
        for k, v in values.items():
            if k not in nested:
                lines.append(f"{_key(k)} = {_toml_value(v)}")
        for k, v in nested.items():
            for sub, subvalues in v.items():
                table(f"{prefix}.{_key(k)}.{_key(sub)}", subvalues)

    for key, value in tables.items():
        table(_key(key), value)
    for key, entries in arrays.items():
        for entry in entries:
            lines.extend(["", f"[[{_key(key)}]]"])
            lines.extend(f"{_key(k)} = {_toml_value(v)}" for k, v in entry.items())
    return "\n".join(lines) + "\n"


def select_next(study_dir: Path | str, seeds: int, out: Path | str, *, progress: Any = None) -> dict[str, Any]:
    """Write the follow-up study of ``study_dir`` to ``out``: per model and dataset, the setting
    with the highest median UDR, with ``seeds`` seeds (finished ones reused). Returns the
    selection (see :func:`select_by_udr`) plus ``reused`` and ``new``: run counts."""
    if seeds < 1:
        raise SlowVAEError("--seeds must be at least 1")
    study_dir, out = Path(study_dir), Path(out)
    study = open_study(study_dir)
    selection = select_by_udr(study_dir, progress=progress)
    data = tomllib.loads((study_dir / STUDY_FILE).read_text())
    entries = {e.get("label", e["name"]): e for e in data["models"]}
    many_datasets = len(data["datasets"]) > 1
    models, reused, new = [], 0, 0
    for choice in selection["chosen"]:
        entry = entries[choice["model"]]
        group = [
            s
            for s in study.runs
            if s.model == choice["model"] and s.dataset == choice["dataset"] and s.setting == choice["setting"]
        ]
        done = [s.seed for s in group if run_state(study_dir, s).state == "finished"][:seeds]
        # finished seeds first (reused), then the group's own unfinished seeds, then new ones
        chosen_seeds = done + [s.seed for s in group if s.seed not in done][: seeds - len(done)]
        candidate = max([s.seed for s in group], default=0) + 1
        while len(chosen_seeds) < seeds:
            chosen_seeds.append(candidate)
            candidate += 1
        reused, new = reused + len(done), new + seeds - len(done)
        model: dict[str, Any] = {"name": entry["name"]}
        if "label" in entry or many_datasets:
            model["label"] = entry.get("label", entry["name"])
        if many_datasets:
            model["datasets"] = [choice["dataset"]]
            if sum(c["model"] == choice["model"] for c in selection["chosen"]) > 1:
                model["label"] = f"{model['label']}@{choice['dataset']}"
        model["hyper"] = dict(choice["setting"])
        model["seeds"] = sorted(chosen_seeds)
        if "steps" in entry:
            model["steps"] = entry["steps"]
        models.append(model)
    if not models:
        raise SlowVAEError("no setting could be selected: " + "; ".join(selection["notes"]))
    data["name"] = f"{data['name']}-selected"
    data["reuse"] = [os.path.relpath(study_dir.resolve(), out.resolve().parent)]
    data["models"] = models
    data.pop("search_seed", None)
    header = (
        f"Written by `slowvae study select {study_dir} --seeds {seeds}`: each model's setting with the\n"
        "highest median UDR, with its finished seeds reused (reuse) and new seeds up to the count."
    )
    text = dump_toml(data, header)
    tomllib.loads(text)  # what we write must read back
    out.parent.mkdir(parents=True, exist_ok=True)
    rundir.atomic_write_bytes(out, text.encode())
    return {**selection, "reused": reused, "new": new}
