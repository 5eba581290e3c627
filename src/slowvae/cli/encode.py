"""`slowvae encode RUN_DIR INPUT --out codes.npy`: a trained run's latents for your own frames."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from slowvae.cli.bars import Bars


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encode",
        help="write a trained run's codes (N, D) for every frame of an input, in input order",
        description="Encode every frame of INPUT (anything frames:PATH reads: image folders, .npy/.npz, videos) "
        "with the model of RUN_DIR. Writes posterior means (encoder outputs for contrastive models) as "
        "float32 (N, D) to --out and, beside it, OUT.index.csv with the sequence and frame of each row.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("input", metavar="INPUT", help="a path or frames:PATH")
    p.add_argument("--out", type=Path, required=True, help="codes file (.npy)")
    p.add_argument("--batch-size", type=int, default=256, help="frames per forward pass (default 256)")
    p.add_argument(
        "--device",
        default="auto",
        help="auto (default: the device the run trained on where this machine has it, else cpu), cpu, cuda or cuda:N",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from slowvae.encode import encode_input, write_codes

    with Bars() as bars:
        codes, frames = encode_input(
            args.run_dir, args.input, batch_size=args.batch_size, device=args.device, progress=bars
        )
    index = write_codes(args.out, codes, frames)
    print(
        f"{codes.shape[0]} frames of {len(frames.names)} sequence(s) -> {args.out} {codes.shape}; index {index}",
        file=sys.stderr,
    )
    return 0
