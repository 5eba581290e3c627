"""Training speed on a CPU or GPU: the project's step against a plain fp32 eager PyTorch loop.

Alternates blocks of the two in one process, so machine noise hits both alike, and reports:
images/s of each and their ratio; the project's share of step time spent producing batches;
achieved GFLOP/s (torch.utils.flop_counter) against the fp32 and bf16 matmul peaks measured in the
same run. Then it times `slowvae train` itself per precision from its own log (start-up excluded),
and the evaluation path: rendering and encoding 100k images in batches of 1024 under inference mode.

    python benchmarks/train_speed.py --precisions fp32 bf16 --blocks 5 --steps-per-block 20
    python benchmarks/train_speed.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from slowvae.config import TrainConfig, new_model
from slowvae.data import LaplaceTransitions, get_pair_source
from slowvae.hardware import PRECISIONS, batch_to_tensor, resolve_device, use_fast_layout
from slowvae.models.networks import Decoder, Encoder
from steplib import matmul_peak, synchronize

HERE = Path(__file__).resolve().parent
BATCH_PAIRS = 32


class PlainVAE(torch.nn.Module):
    """The reference encoder/decoder with a textbook per-image VAE loss, fp32, nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.enc, self.dec = Encoder(1, 10), Decoder(1, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.enc(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = F.binary_cross_entropy_with_logits(self.dec(z), x, reduction="sum") / len(x)
        return recon + 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1).mean()


def step_flops(step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=list(PRECISIONS))
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--steps-per-block", type=int, default=20)
    parser.add_argument("--train-steps", type=int, default=300, help="steps of each `slowvae train` timing run")
    parser.add_argument(
        "--encode", type=int, default=100_000, help="images to render and encode for the evaluation timing"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N: where every variant runs")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "speed" / "train_speed.json")
    args = parser.parse_args()
    device = resolve_device(args.device)

    rng = np.random.default_rng(0)
    source = get_pair_source("dsprites-procedural", LaplaceTransitions(1.0))
    plain = PlainVAE().to(device)
    plain_opt = torch.optim.Adam(plain.parameters(), lr=1e-4)
    x_t, x_next, _, _ = source.sample_pairs(BATCH_PAIRS, rng)
    fixed = torch.from_numpy(np.concatenate([x_t, x_next])).float().to(device)  # the plain loop gets a ready batch

    def plain_step() -> None:
        plain_opt.zero_grad()
        plain(fixed).backward()
        plain_opt.step()

    projects, data_times = {}, {p: 0.0 for p in args.precisions}
    for precision in args.precisions:
        config = TrainConfig(precision=precision)
        model = new_model(config, 1).to(device)
        amp = PRECISIONS[precision]
        use_fast_layout(model, device)  # as train() does
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        gen = torch.Generator(device=device).manual_seed(0)

        def project_step(model=model, opt=opt, gen=gen, amp=amp, precision=precision) -> None:
            t0 = time.perf_counter()
            a, b, _, _ = source.sample_pairs(BATCH_PAIRS, rng)
            batch = batch_to_tensor(a, b, True, device)
            data_times[precision] += time.perf_counter() - t0
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                loss = model(batch, gen)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()

        projects[precision] = project_step

    flops = {"plain": step_flops(plain_step), **{p: step_flops(s) for p, s in projects.items()}}
    for s in (plain_step, *projects.values()):
        for _ in range(3):  # warm-up
            s()
    seconds = {"plain": 0.0, **{p: 0.0 for p in projects}}
    data_times = {p: 0.0 for p in projects}
    for _ in range(args.blocks):  # alternate, so load changes hit every variant alike
        for name, s in (("plain", plain_step), *projects.items()):
            start = time.perf_counter()
            for _ in range(args.steps_per_block):
                s()
            synchronize(device)
            seconds[name] += time.perf_counter() - start
    steps = args.blocks * args.steps_per_block
    images = 2 * BATCH_PAIRS * steps
    peaks = {"fp32": matmul_peak(torch.float32, device=device), "bf16": matmul_peak(torch.bfloat16, device=device)}
    rows = {}
    for name, secs in seconds.items():
        rows[name] = {
            "images_per_s": images / secs,
            "ms_per_step": 1000 * secs / steps,
            "gflop_per_step": flops[name] / 1e9,
            "achieved_gflops": flops[name] * steps / secs / 1e9,
        }
        if name != "plain":
            rows[name]["speedup_vs_plain_fp32"] = rows[name]["images_per_s"] / (images / seconds["plain"])
            rows[name]["data_share"] = data_times[name] / secs

    # `slowvae train` itself, from its log: the mean images/s of the intervals after the first
    cli = {}
    for precision in args.precisions:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "slowvae.cli",
                    "train",
                    "--steps",
                    str(args.train_steps),
                    "--log-every",
                    "50",
                    "--precision",
                    precision,
                    "--no-eval",
                    "--device",
                    args.device,
                    "--out",
                    f"{tmp}/run",
                ],
                check=True,
                capture_output=True,
            )
            lines = [json.loads(x) for x in Path(f"{tmp}/run/metrics.jsonl").read_text().splitlines()]
            cli[precision] = float(np.mean([x["images_per_s"] for x in lines[1:]]))
    # evaluation: render and encode --encode images in large batches under inference mode
    from slowvae.codes import encode as encode_codes

    model = new_model(TrainConfig(), 1).to(device).eval()
    start = time.perf_counter()
    render_s = 0.0
    for begin in range(0, args.encode, 10_000):
        t0 = time.perf_counter()
        images, _ = source.sample_eval(min(10_000, args.encode - begin), rng)
        render_s += time.perf_counter() - t0
        encode_codes(model, images, binary=True)
    synchronize(device)
    encode_total = time.perf_counter() - start
    plain_ips = rows["plain"]["images_per_s"]
    result = {
        "command": "python " + " ".join([sys.argv[0].replace(str(HERE.parent) + "/", ""), *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
        + (f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""),
        "device": str(device),
        "date": time.strftime("%Y-%m-%d"),
        "batch": f"{BATCH_PAIRS} pairs = {2 * BATCH_PAIRS} images",
        "matmul_peak_gflops": peaks,
        "in_process": rows,
        "slowvae_train_images_per_s": cli,
        "slowvae_train_speedup_vs_plain_fp32": {p: v / plain_ips for p, v in cli.items()},
        "evaluation_encode": {
            "images": args.encode,
            "seconds": encode_total,
            "render_seconds": render_s,
            "images_per_s": args.encode / encode_total,
            "batch": 1024,
            "precision": "fp32",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
