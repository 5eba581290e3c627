"""Study files: parse a TOML study and expand it, deterministically, into resolved runs.

A study is models x datasets x hyperparameter settings x seeds. Each run is described by a
:class:`RunSpec`: its id (readable parts plus a short hash of the configuration that defines the
trained network), the :class:`~slowvae.train.TrainConfig` fields it trains with and the
evaluation settings. The format is documented in docs/guide/studies.md.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slowvae.errors import SlowVAEError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: top-level keys of a study that are not TrainConfig defaults
_STUDY_KEYS = {"name", "steps", "seeds", "search_seed", "datasets", "evaluate", "models", "reuse"}
#: TrainConfig fields a study sets per run (models, datasets, seeds), never as a top-level default
_PER_RUN_FIELDS = {"model", "hyper", "seed", "dataset", "transitions", "data_rate", "k", "steps"}
#: TrainConfig fields that only say how a run is executed: neither in the id nor compared on rerun
OPERATIONAL_FIELDS = ("device", "checkpoint_every", "keep_checkpoints", "log_every", "tensorboard")
#: fields compared with a run on disk but not part of its id (changing them is refused, not a new
#: run; raising ``steps`` extends the run, see :func:`slowvae.study.core.conflicts`)
_COMPARED_NOT_HASHED = ("steps", "precision")
_MODEL_KEYS = {"name", "label", "hyper", "grid", "search", "samples", "seeds", "steps", "datasets", "train"}
_EVALUATE_KEYS = {"metrics", "preset", "fast", "samples", "at_steps", "settings"}
_DATASET_KEYS = {"name", "label", "transitions", "data_rate", "k", "options"}
_DIST = re.compile(r"^\s*(U|logU|choice)\s*\((.*)\)\s*$")
#: checkpoint interval of study runs unless the study sets one: an interrupted run loses little
DEFAULT_CHECKPOINT_EVERY = 1000


@dataclass(frozen=True)
class RunSpec:
    """One resolved run of a study.

    ``config`` holds TrainConfig fields (``precision`` as written, e.g. ``"auto"``, resolved on
    the machine that trains); ``setting`` the hyperparameters the study chose for this row of the
    table (fixed, grid and drawn values); ``evaluate`` the resolved evaluation settings.
    """

    id: str
    model: str  # the model entry's label (its name unless `label` is given)
    dataset: str  # dataset label: the name, plus transitions when not LAP with rate 1
    setting: dict[str, float]
    seed: int
    config: dict[str, Any]
    evaluate: dict[str, Any]

    def record(self) -> dict[str, Any]:
        """What a run directory keeps as ``study-run.json``."""
        return dataclasses.asdict(self)

    @property
    def group(self) -> tuple[str, str, str]:
        """(model, dataset, setting as canonical JSON): the runs of one table row differ only in seed."""
        return self.model, self.dataset, json.dumps(self.setting, sort_keys=True)


@dataclass
class Study:
    """A parsed study file: its name, its runs in expansion order, and the text it was read from."""

    name: str
    runs: list[RunSpec]
    text: str
    source: Path | None = None
    evaluate: dict[str, Any] = field(default_factory=dict)
    reuse: list[str] = field(default_factory=list)  # study directories whose finished runs are linked in

    def reuse_dirs(self) -> list[Path]:
        """``reuse`` entries as paths (relative ones from the study file's folder)."""
        base = self.source.parent if self.source is not None else Path.cwd()
        return [p if (p := Path(r).expanduser()).is_absolute() else base / p for r in self.reuse]


def load_study(path: Path | str) -> Study:
    """Read and expand the study file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise SlowVAEError(f"cannot read the study file {path}: {err.strerror}") from None
    study = parse_study(text, origin=str(path))
    study.source = path
    return study


def parse_study(text: str, origin: str = "study") -> Study:
    """Expand a study given as TOML text into its runs (same text, same runs and ids)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SlowVAEError(f"{origin} is not valid TOML: {err}") from None
    return _expand(data, text, origin)


def _fail(origin: str, message: str) -> SlowVAEError:
    return SlowVAEError(f"{origin}: {message}")


def _train_fields() -> set[str]:
    from slowvae.config import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig)}


def _seeds(value: Any, where: str, origin: str) -> list[int]:
    if isinstance(value, bool):
        raise _fail(origin, f"{where}seeds must be a list of integers or a count n (meaning 1..n)")
    if isinstance(value, int):
        if value < 1:
            raise _fail(origin, f"{where}seeds = {value}: a count must be at least 1")
        return list(range(1, value + 1))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        if len(set(value)) != len(value):
            raise _fail(origin, f"{where}seeds lists a seed twice: {value}")
        return list(value)
    raise _fail(origin, f"{where}seeds must be a non-empty list of integers or a count n (meaning 1..n), got {value!r}")


def _positive_int(value: Any, name: str, origin: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(origin, f"{name} must be a positive integer, got {value!r}")
    return value


def _datasets(value: Any, origin: str) -> list[tuple[str, dict[str, Any]]]:
    """(label, TrainConfig data fields) per dataset entry."""
    if not isinstance(value, list) or not value:
        raise _fail(origin, "datasets must be a non-empty list of names or tables { name = ..., transitions = ... }")
    out = []
    for item in value:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise _fail(origin, f"each dataset is a name or a table with a name, got {item!r}")
        unknown = set(item) - _DATASET_KEYS
        if unknown:
            raise _fail(
                origin,
                f"dataset {item['name']!r}: unknown key(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(_DATASET_KEYS))}",
            )
        transitions = item.get("transitions", "laplace")
        if transitions not in ("laplace", "uniform"):
            raise _fail(
                origin, f"dataset {item['name']!r}: transitions must be laplace or uniform, got {transitions!r}"
            )
        fields = {
            "dataset": item["name"],
            "transitions": transitions,
            "data_rate": item.get("data_rate", 1.0 if transitions == "laplace" else None),
            "k": item.get("k"),
        }
        if fields["data_rate"] is not None:
            fields["data_rate"] = float(fields["data_rate"])
        options = item.get("options", {})
        if not isinstance(options, dict):
            raise _fail(
                origin, f"dataset {item['name']!r}: options must be a table such as {{ max_dt = 2 }}, got {options!r}"
            )
        accepted = _accepted_options(item["name"], origin)  # also: an unknown dataset name fails here
        if options:  # the dataset's own options (TrainConfig.dataset_options), checked against its entry
            unknown = sorted(set(options) - set(accepted))
            if unknown:
                raise _fail(
                    origin,
                    f"dataset {item['name']!r}: unknown option(s) {', '.join(unknown)}; it accepts "
                    f"{', '.join(accepted) or 'none'}",
                )
            _check_option_values(item["name"], options, origin)
            fields["dataset_options"] = dict(options)
        label = item.get("label", item["name"])
        if not isinstance(label, str) or not label.strip():
            raise _fail(origin, f"dataset {item['name']!r}: label must be a non-empty string, got {label!r}")
        if "label" not in item and transitions == "uniform":
            label += "-loc" + (f"-k{fields['k']}" if fields["k"] is not None else "")
        elif "label" not in item and fields["data_rate"] != 1.0:
            label += f"-lap{_fmt(fields['data_rate'])}"
        out.append((label, fields))
    labels = [label for label, _ in out]
    if len(set(labels)) != len(labels):
        raise _fail(origin, f"a dataset is listed twice: {labels}; give the entries different labels (label = ...)")
    return out


def _accepted_options(name: str, origin: str) -> tuple[str, ...]:
    """The options a dataset's entry lets a run set (``frames:``: max_dt, binary, ...)."""
    from slowvae.config import settable_options

    try:
        return settable_options(name)
    except SlowVAEError as err:
        raise _fail(origin, str(err)) from None


def _check_option_values(name: str, options: dict[str, Any], origin: str) -> None:
    """The values of a dataset's options, checked by its entry without loading data."""
    from slowvae.data.registry import check_dataset

    try:
        check_dataset(name, options)
    except SlowVAEError as err:
        raise _fail(origin, f"dataset {name!r}: {err}") from None


def _evaluate(value: Any, origin: str) -> dict[str, Any]:
    from slowvae.metrics import METRICS
    from slowvae.metrics.registry import suite_metrics
    from slowvae.metrics.suite import resolve_settings

    value = dict(value or {})
    unknown = set(value) - _EVALUATE_KEYS
    if unknown:
        raise _fail(
            origin,
            f"[evaluate]: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_EVALUATE_KEYS))}",
        )
    metrics = value.get("metrics", ["mcc"])
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise _fail(origin, "[evaluate] metrics must be a non-empty list of metric names")
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise _fail(origin, f"[evaluate] unknown metric(s) {', '.join(bad)}; choose from {', '.join(METRICS)}")
    suite = [m for m in suite_metrics() if m in metrics]
    preset = value.get("preset")
    if preset is None and suite:
        preset = "fast"
    fast = value.get("fast", False)
    if not isinstance(fast, bool):
        raise _fail(origin, f"[evaluate] fast must be true or false, got {fast!r}")
    settings = value.get("settings", {})
    if not isinstance(settings, dict) or not all(isinstance(v, dict) for v in settings.values()):
        raise _fail(origin, "[evaluate.settings.<metric>] tables hold per-metric settings")
    settings = {m: dict(v) for m, v in settings.items()}
    exact = settings.get("dci", {}).pop("exact", None)
    if exact is not None:  # `exact = true`: scikit-learn's gradient boosting, whatever the preset says
        if not isinstance(exact, bool):
            raise _fail(origin, f"[evaluate.settings.dci] exact must be true or false, got {exact!r}")
        if exact:
            settings["dci"]["backend"] = "sklearn"
    try:
        resolve_settings(preset or "dlib", fast, settings)  # unknown presets, metrics and settings fail here
    except SlowVAEError as err:
        raise _fail(origin, f"[evaluate] {err}") from None
    samples = _positive_int(value.get("samples", 10_000), "[evaluate] samples", origin)
    at_steps = value.get("at_steps", [])
    if not isinstance(at_steps, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in at_steps
    ):
        raise _fail(origin, "[evaluate] at_steps must be a list of step counts (0 = the untrained network)")
    return {
        "metrics": ["mcc"] + suite,
        "preset": preset,
        "fast": fast,
        "samples": samples,
        "at_steps": sorted(set(at_steps)),
        "settings": settings,
    }


def _distribution(text: Any, key: str, where: str, origin: str) -> tuple[str, list[float]]:
    match = _DIST.match(text) if isinstance(text, str) else None
    if not match:
        raise _fail(origin, f'{where}search.{key} = {text!r}: write "U(a, b)", "logU(a, b)" or "choice(a, b, ...)"')
    kind, args = match.group(1), match.group(2)
    try:
        values = [float(a) for a in args.split(",") if a.strip()]
    except ValueError:
        raise _fail(origin, f"{where}search.{key} = {text!r}: the arguments must be numbers") from None
    if kind in ("U", "logU") and (len(values) != 2 or not values[0] < values[1]):
        raise _fail(origin, f"{where}search.{key} = {text!r}: {kind} takes two numbers a < b")
    if kind == "logU" and values[0] <= 0:
        raise _fail(origin, f"{where}search.{key} = {text!r}: logU needs 0 < a")
    if kind == "choice" and not values:
        raise _fail(origin, f"{where}search.{key} = {text!r}: choice needs at least one value")
    return kind, values


def _stream_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def draw_setting(
    search: dict[str, tuple[str, list[float]]], search_seed: int, model: str, index: int
) -> dict[str, float]:
    """The random-search setting number ``index`` of ``model``: a generator keyed by
    (search_seed, model, index) draws each hyperparameter in name order, so adding a model or
    a sample never changes another draw."""
    rng = np.random.default_rng([search_seed, _stream_key(model), index])
    out = {}
    for key in sorted(search):
        kind, values = search[key]
        if kind == "U":
            out[key] = float(rng.uniform(values[0], values[1]))
        elif kind == "logU":
            out[key] = float(math.exp(rng.uniform(math.log(values[0]), math.log(values[1]))))
        else:
            out[key] = float(values[int(rng.integers(len(values)))])
    return out


def _settings(entry: dict[str, Any], where: str, search_seed: int, label: str, origin: str) -> list[dict[str, float]]:
    """Every hyperparameter setting of a model entry: fixed x grid product x search samples."""

    def numbers(table: Any, name: str) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise _fail(origin, f"{where}{name} must be a table of hyperparameters")
        return table

    fixed = {k: float(v) for k, v in numbers(entry.get("hyper", {}), "hyper").items()}
    grid = numbers(entry.get("grid", {}), "grid")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise _fail(origin, f"{where}grid.{key} must be a non-empty list of values")
    search = {k: _distribution(v, k, where, origin) for k, v in numbers(entry.get("search", {}), "search").items()}
    overlap = (set(fixed) & set(grid)) | (set(fixed) & set(search)) | (set(grid) & set(search))
    if overlap:
        raise _fail(origin, f"{where}{', '.join(sorted(overlap))} set in more than one of hyper, grid and search")
    if search and "samples" not in entry:
        raise _fail(origin, f"{where}search needs samples = <number of random settings>")
    if "samples" in entry and not search:
        raise _fail(origin, f"{where}samples is given without a search table")
    n_samples = _positive_int(entry.get("samples", 1), f"{where}samples", origin)
    grid_points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())] if grid else [{}]
    draws = [draw_setting(search, search_seed, label, i) for i in range(n_samples)] if search else [{}]
    return [{**fixed, **{k: float(v) for k, v in g.items()}, **d} for g in grid_points for d in draws]


def _fmt(value: float) -> str:
    """A number for a run id: at most 3 significant digits, no exponent for usual values."""
    text = f"{value:.3g}"
    return text.replace("+", "").replace("e-0", "e-")


def run_id(label: str, dataset: str, setting: dict[str, float], seed: int, identity: dict[str, Any]) -> str:
    """``<model>-<dataset>-<key><value>...-seed<seed>-<hash>``; the hash is the first 6 hex digits
    of SHA-256 of the identity (the configuration that defines the trained network)."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:6]
    parts = [label, dataset, *(f"{k}{_fmt(v)}" for k, v in sorted(setting.items())), f"seed{seed}", digest]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))


#: the fields that define a trained network: always part of a run's id
IDENTITY_FIELDS = ("model", "hyper", "dataset", "transitions", "data_rate", "k", "z_dim", "batch_pairs", "lr", "seed")


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a run's config that its id hashes: :data:`IDENTITY_FIELDS`, plus any other
    field that is neither operational nor only compared and differs from its TrainConfig default
    (so a field added to TrainConfig later does not change the ids of existing runs)."""
    from slowvae.config import TrainConfig

    missing = dataclasses.MISSING
    defaults = {
        f.name: f.default if f.default is not missing else f.default_factory()  # type: ignore[misc]
        for f in dataclasses.fields(TrainConfig)
        if f.default is not missing or f.default_factory is not missing
    }
    out = {k: config[k] for k in IDENTITY_FIELDS if k in config}
    skip = set(IDENTITY_FIELDS) | set(OPERATIONAL_FIELDS) | set(_COMPARED_NOT_HASHED)
    out.update({k: v for k, v in config.items() if k not in skip and (k not in defaults or v != defaults[k])})
    return out


def compared(record: dict[str, Any]) -> dict[str, Any]:
    """The settings of a run record that must match a run on disk (everything but how it executes)."""
    config = {k: v for k, v in record["config"].items() if k not in OPERATIONAL_FIELDS}
    return {
        **{f"config.{k}": v for k, v in config.items()},
        **{f"evaluate.{k}": v for k, v in record["evaluate"].items()},
    }


def _did_you_mean(keys: set[str], data: dict[str, Any]) -> str:
    """``"; did you mean `seeds`?"`` for top-level keys close to a study key (``seed``, ``model``:
    ``[[model]]`` is a table array, shown as ``[[models]]``); empty when none is."""
    hints = []
    for key in sorted(keys):
        close = difflib.get_close_matches(key, sorted(_STUDY_KEYS - {key}), n=1, cutoff=0.8)
        if close:
            table = isinstance(data[key], list) and all(isinstance(v, dict) for v in data[key])
            hints.append(f"[[{close[0]}]]" if table else close[0])
    return f"; did you mean {' and '.join(f'`{h}`' for h in hints)}?" if hints else ""


@dataclass
class _Defaults:
    """What every [[models]] entry of a study starts from."""

    steps: int
    seeds: list[int]
    search_seed: int
    datasets: list[tuple[str, dict[str, Any]]]
    evaluate: dict[str, Any]
    train: dict[str, Any]
    origin: str


def _top_level(data: dict[str, Any], origin: str) -> tuple[str, _Defaults]:
    """The study's name and the defaults its top-level keys give every model entry."""
    unknown = set(data) - _STUDY_KEYS - _train_fields()
    if unknown:
        raise _fail(
            origin,
            f"unknown key(s) {', '.join(sorted(unknown))}; a study has {', '.join(sorted(_STUDY_KEYS))} "
            "and TrainConfig fields as defaults" + _did_you_mean(unknown, data),
        )
    per_run = (set(data) & _PER_RUN_FIELDS) - {"steps"}
    if per_run:
        raise _fail(
            origin,
            f"{', '.join(sorted(per_run))} cannot be study-wide defaults: they come from "
            "[[models]], datasets and seeds" + _did_you_mean(per_run, data),
        )
    for key in ("name", "steps", "seeds", "datasets", "models"):
        if key not in data:
            raise _fail(origin, f"missing the top-level key {key!r}")
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise _fail(origin, "name must be a non-empty string")
    search_seed = data.get("search_seed", 0)
    if isinstance(search_seed, bool) or not isinstance(search_seed, int) or search_seed < 0:
        raise _fail(origin, f"search_seed must be a non-negative integer, got {search_seed!r}")
    defaults = _Defaults(
        steps=_positive_int(data["steps"], "steps", origin),
        seeds=_seeds(data["seeds"], "", origin),
        search_seed=search_seed,
        datasets=_datasets(data["datasets"], origin),
        evaluate=_evaluate(data.get("evaluate"), origin),
        train={k: v for k, v in data.items() if k not in _STUDY_KEYS},
        origin=origin,
    )
    return name.strip(), defaults


#: the keys in which two [[models]] entries with one label may differ: the same runs, some seeds
#: trained longer (their run ids do not depend on steps)
_PER_SEED_KEYS = {"seeds", "steps"}


def _entry(entry: Any, n: int, labels: dict[str, dict[str, Any]], origin: str) -> tuple[str, str, str]:
    """Check one [[models]] entry against the entries before it (``labels``: label -> that entry
    without its seeds and steps); returns its model name, label and the prefix of its messages."""
    from slowvae.models import model_class

    if not isinstance(entry, dict) or "name" not in entry:
        raise _fail(origin, f"[[models]] entry {n} has no name")
    model = entry["name"]
    where = f"[[models]] {model}: "
    unknown = set(entry) - _MODEL_KEYS
    if unknown:
        raise _fail(
            origin, f"{where}unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_MODEL_KEYS))}"
        )
    try:
        model_class(model)  # built-in, entry point or package.module:Class
    except SlowVAEError as err:
        raise _fail(origin, f"{where}{err}") from None
    label = entry.get("label", model)
    if label in labels and labels[label] != _sans_seeds(entry):
        raise _fail(
            origin,
            f"{where}two entries are labelled {label!r} and differ in more than seeds and steps; "
            'give one a distinct label = "..."',
        )
    return model, label, where


def _sans_seeds(entry: dict[str, Any]) -> dict[str, Any]:
    """A [[models]] entry without the keys that entries sharing a label may differ in."""
    return {k: v for k, v in entry.items() if k not in _PER_SEED_KEYS}


def _entry_train(entry: dict[str, Any], where: str, base: _Defaults, steps: int) -> dict[str, Any]:
    """The TrainConfig defaults of an entry's runs: the study's, then the entry's ``train`` table."""
    train = entry.get("train", {})
    allowed = _train_fields() - _PER_RUN_FIELDS
    if not isinstance(train, dict) or set(train) - allowed:
        wrong = sorted(set(train) - allowed) if isinstance(train, dict) else train
        raise _fail(
            base.origin,
            f"{where}train must be a table of TrainConfig fields other than "
            f"{', '.join(sorted(_PER_RUN_FIELDS))}; got {wrong!r}",
        )
    out = {**base.train, **train}
    out.setdefault("checkpoint_every", min(DEFAULT_CHECKPOINT_EVERY, steps))
    return out


def _entry_runs(entry: dict[str, Any], model: str, label: str, where: str, base: _Defaults) -> list[RunSpec]:
    """Every run of one [[models]] entry: settings x datasets x seeds."""
    from slowvae.config import TrainConfig

    origin = base.origin
    steps = _positive_int(entry.get("steps", base.steps), f"{where}steps", origin)
    seeds = _seeds(entry["seeds"], where, origin) if "seeds" in entry else base.seeds
    run_eval = {**base.evaluate, "at_steps": [s for s in base.evaluate["at_steps"] if s < steps]}  # beyond: skipped
    run_defaults = _entry_train(entry, where, base, steps)
    only = entry.get("datasets")
    if only is not None and (not isinstance(only, list) or not set(only) <= {d for d, _ in base.datasets}):
        raise _fail(
            origin,
            f"{where}datasets must list labels of the study's datasets "
            f"({', '.join(d for d, _ in base.datasets)}), got {only!r}",
        )
    runs = []
    for setting in _settings(entry, where, base.search_seed, label, origin):
        for dataset_label, data_fields in base.datasets:
            if only is not None and dataset_label not in only:
                continue
            for seed in seeds:
                fields = {**run_defaults, **data_fields, "model": model, "hyper": setting, "seed": seed, "steps": steps}
                try:
                    config = TrainConfig(**fields).to_dict()
                except (TypeError, SlowVAEError) as err:
                    raise _fail(origin, f"{where}{err}") from None
                config["precision"] = fields.get("precision", "auto")  # resolved where the run trains
                ident = run_id(label, dataset_label, setting, seed, identity(config))
                runs.append(RunSpec(ident, label, dataset_label, setting, seed, config, run_eval))
    return runs


def _expand(data: dict[str, Any], text: str, origin: str) -> Study:
    name, base = _top_level(data, origin)
    models = data["models"]
    if not isinstance(models, list) or not models:
        raise _fail(origin, "give at least one [[models]] entry")
    runs: list[RunSpec] = []
    labels: dict[str, dict[str, Any]] = {}
    for n, entry in enumerate(models, 1):
        model, label, where = _entry(entry, n, labels, origin)
        labels[label] = _sans_seeds(entry)
        runs += _entry_runs(entry, model, label, where, base)
    ids = [r.id for r in runs]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise _fail(origin, f"two runs of the study are the same run ({', '.join(dup)}); remove the duplicate entry")
    reuse = data.get("reuse", [])
    if not isinstance(reuse, list) or not all(isinstance(r, str) for r in reuse):
        raise _fail(origin, "reuse must be a list of study directories")
    return Study(name, runs, text, evaluate=base.evaluate, reuse=reuse)
