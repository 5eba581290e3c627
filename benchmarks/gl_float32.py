"""Float32 accuracy of the generalized-Laplace cross-entropy pieces, against float64.

Grid: |m| / sigma from 0 to 50 (301 values, geometric above 1e-4), alpha 0.2..2 (19 values), sigma 0.05
and 1, scale 0.1 and 1. Writes ``results/gl-prior/gl_float32.json``: the largest relative error in float32 of
1F1(-alpha/2; 1/2; -x) (against scipy), of E|z|^alpha, of the cross-entropy, and of its gradients in
m, sigma, alpha and scale (against the float64 autograd gradients, relative to the largest of each).

    python benchmarks/gl_float32.py
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import scipy.special as sp
import torch

from slowvae.models.gl_prior import generalized_laplace_cross_entropy
from slowvae.models.special import gaussian_abs_moment, hyp1f1_negative

HERE = Path(__file__).resolve().parent


def main() -> None:
    t = np.concatenate([[0.0], np.geomspace(1e-4, 50, 300)])
    alpha = np.linspace(0.2, 2.0, 19)
    rows = np.array([(ti, a, s, c) for ti in t for a in alpha for s in (0.05, 1.0) for c in (0.1, 1.0)])
    t_, a_, s_, c_ = rows.T
    m_ = t_ * s_
    x = t_**2 / 2
    ref_f = sp.hyp1f1(-a_ / 2, 0.5, -x)
    out = {
        "command": "python benchmarks/gl_float32.py",
        "torch": torch.__version__,
        "machine": platform.machine(),
        "grid_points": int(len(rows)),
    }
    f32 = hyp1f1_negative(torch.tensor(-a_ / 2, dtype=torch.float32), 0.5, torch.tensor(x, dtype=torch.float32))
    out["hyp1f1_max_rel_error"] = float(np.max(np.abs(f32.double().numpy() / ref_f - 1)))
    values = {}
    for dtype in (torch.float64, torch.float32):
        m, s, a, c = (torch.tensor(v, dtype=dtype, requires_grad=True) for v in (m_, s_, a_, c_))
        moment = gaussian_abs_moment(m, s, a)
        ce = generalized_laplace_cross_entropy(m, s, a, c)
        grads = torch.autograd.grad(ce.sum(), (m, s, a, c))
        values[dtype] = (moment.detach().double(), ce.detach().double(), [g.double() for g in grads])
    (m64, ce64, g64), (m32, ce32, g32) = values[torch.float64], values[torch.float32]
    out["abs_moment_max_rel_error"] = float(((m32 - m64).abs() / m64.abs()).max())
    out["cross_entropy_max_rel_error"] = float(((ce32 - ce64).abs() / ce64.abs().clamp_min(1e-3)).max())
    for name, g_hi, g_lo in zip(("m", "sigma", "alpha", "scale"), g64, g32):
        out[f"grad_{name}_max_error_rel_to_max"] = float((g_lo - g_hi).abs().max() / g_hi.abs().max())
        out[f"grad_{name}_median_rel_error"] = float(((g_lo - g_hi).abs() / g_hi.abs().clamp_min(1e-12)).median())
    path = HERE / "results" / "gl-prior" / "gl_float32.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
