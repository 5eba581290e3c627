"""Where does the ELBO put alpha once the codes are right? (a diagnostic)

Trains the fixed-Laplace SlowVAE of the identifiability experiment (``IdentifiabilityConfig``
defaults except the flags), then, with the networks frozen, fits a generalized-Laplace alpha and
scale per latent by minimising the same transition cross-entropy (LBFGS) on 4,000 fresh pairs:
once on the posteriors (the ELBO's own optimum) and once on the posterior means alone. Writes
``results/gl-prior/gl_prior_fit[-TAG].json`` and prints one line per data alpha.

    nice -n 10 python benchmarks/gl_prior_fit.py --dim 3 --mixing linear --layers 1 --steps 500 --lr 1e-2 --hidden 32 --tag fast
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from slowvae.data.synthetic import SyntheticPairs
from slowvae.identifiability import IdentifiabilityConfig, _seed_streams, obs_std_at
from slowvae.metrics import mcc
from slowvae.models.gl_prior import GL_DEFAULTS, GeneralizedLaplacePrior
from slowvae.models.mlp import build_vector_model

HERE = Path(__file__).resolve().parent


def fit_prior(m: torch.Tensor, std: torch.Tensor, rate: float) -> dict[str, list[float]]:
    """alpha and scale per latent minimising the mean cross-entropy of N(m, std^2) (N, D), from the Laplace start."""
    prior = GeneralizedLaplacePrior(m.shape[1], {**GL_DEFAULTS, "rate": rate}).double()
    opt = torch.optim.LBFGS(prior.parameters(), max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = prior.cross_entropy(m, std).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return prior.learned_values()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alpha", type=float, nargs="+", default=[0.5, 1.5])
    p.add_argument("--dim", type=int, default=5)
    p.add_argument("--mixing", default="mlp")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--steps", type=int, default=16_000)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tag", default="")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for alpha in args.alpha:
        cfg = IdentifiabilityConfig(
            alphas=(alpha,),
            dim=args.dim,
            mixing=args.mixing,
            layers=args.layers,
            steps=args.steps,
            lr=args.lr,
            hidden=args.hidden,
        )
        mix_rng, data_rng, eval_rng = _seed_streams(args.seed)
        source = SyntheticPairs(cfg.dim, alpha, cfg.rate_for(alpha), cfg.mixing, cfg.layers, rng=mix_rng)
        torch.manual_seed(args.seed)
        model = build_vector_model(
            "slowvae",
            obs_dim=source.obs_dim,
            z_dim=cfg.dim,
            hidden=cfg.hidden,
            layers=cfg.layers + 1,
            posterior=cfg.posterior,
            **cfg.model_hyper("slowvae", alpha),
        )
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
        noise, start_std = torch.Generator().manual_seed(args.seed), model.hyper["obs_std"]
        for step in range(1, cfg.steps + 1):  # the loop of slowvae.identifiability.run_one
            model.hyper["obs_std"] = obs_std_at(step, cfg.steps, start_std, cfg.final_obs_std)
            x0, x1, _, _ = source.sample_pairs(cfg.batch_pairs, data_rng)
            loss = model(torch.from_numpy(np.stack([x0, x1])), noise)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
        x0, x1, z0, _ = source.sample_pairs(4000, eval_rng)
        with torch.no_grad():
            (mu0, tril0), (mu1, tril1) = model.posterior(torch.from_numpy(x0)), model.posterior(torch.from_numpy(x1))
        # both directions, as in the loss: each frame's posterior against the other frame's mean
        m = torch.cat([mu0 - mu1, mu1 - mu0]).double()
        std = torch.cat([tril0.pow(2).sum(-1).sqrt(), tril1.pow(2).sum(-1).sqrt()]).double()
        row = {
            "data_alpha": alpha,
            "mcc_pearson": mcc(mu0.double().numpy(), z0)["mcc_pearson"],
            "median_posterior_std": float(std.median()),
            "median_abs_mean_step": float(m.abs().median()),
            "fit_on_posteriors": fit_prior(m, std, model.hyper["rate"]),
            "fit_on_means": fit_prior(m, torch.full_like(std, 1e-6), model.hyper["rate"]),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    stem = "gl_prior_fit" + (f"-{args.tag}" if args.tag else "")
    command = "nice -n 10 python benchmarks/gl_prior_fit.py " + shlex.join(sys.argv[1:])
    (HERE / "results" / "gl-prior" / f"{stem}.json").write_text(
        json.dumps({"command": command, "seed": args.seed, "rows": rows}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
