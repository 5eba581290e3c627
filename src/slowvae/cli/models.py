"""`slowvae models`: every model with its paper, hyperparameters, defaults and published sweeps."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the models with their hyperparameters, defaults and published sweeps",
        description="List every model `slowvae train --model NAME` accepts (built in, or added by an installed "
        "package through the `slowvae.models` entry-point group): its paper, and each "
        "hyperparameter (set with --hyper KEY=VALUE) with its default and the published sweep.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="only these models")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def describe_models(names: list[str] | None = None) -> list[dict[str, Any]]:
    """One record per model: name, paper, and per hyperparameter its default, sweep and help."""
    from slowvae.models import model_class, model_names

    records = []
    for name in names or model_names():
        cls = model_class(name)  # an unknown name is a SlowVAEError naming the known ones
        hyper = {
            key: {
                "default": default,
                "sweep": list(sweep) if isinstance(sweep := cls.sweeps.get(key), tuple) else sweep,
                "help": cls.hyper_help.get(key),
            }
            for key, default in cls.defaults.items()
        }
        records.append({"name": name, "paper": getattr(cls, "paper", ""), "hyperparameters": hyper})
    return records


def run(args: argparse.Namespace) -> int:
    records = describe_models(args.names)
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    for r in records:
        print(f"{r['name']}\n  {r['paper']}")
        if not r["hyperparameters"]:
            print("  (no hyperparameters)")
        for key, h in r["hyperparameters"].items():
            sweep = h["sweep"]
            sweep_text = ", ".join(f"{v:g}" for v in sweep) if isinstance(sweep, list) else (sweep or "-")
            print(f"  {key:<20} default {h['default']:<9g} sweep {sweep_text}")
            if h["help"]:
                print(f"  {'':<20} {h['help']}")
        print()
    return 0
