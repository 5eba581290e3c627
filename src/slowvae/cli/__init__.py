"""The ``slowvae`` command. Each subcommand lives in its own module with ``register(subparsers)``.

Nothing below this package parses arguments or draws progress bars; a :class:`SlowVAEError`
anywhere becomes a one-line message and exit status 2, and so does an :class:`OSError` of writing
(read-only, full disk, a file in the way: :mod:`slowvae.cli.outputs`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from slowvae import __version__
from slowvae.errors import SlowVAEError

#: subcommand modules, in the order ``slowvae --help`` lists them
COMMANDS = ("train", "evaluate", "encode", "report", "study", "score", "stats", "data", "models", "identifiability")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slowvae",
        description="SlowVAE: disentanglement from temporally sparse transitions (Klindt et al., ICLR 2021).",
    )
    parser.add_argument("--version", action="version", version=f"slowvae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"slowvae.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"slowvae.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from slowvae.hardware import keep_freed_memory  # here: `slowvae --help` imports no torch

    keep_freed_memory()
    try:
        return int(args.func(args) or 0)
    except SlowVAEError as err:
        print(f"slowvae {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"slowvae {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except OSError as err:  # a place that cannot be written: one line; other OS errors stay tracebacks
        from slowvae.cli.outputs import write_error_line

        line = write_error_line(err)
        if line is None:
            raise
        print(f"slowvae {args.command}: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
