import numpy as np
from metric_testutils import make_factors, standardise

from slowvae.metrics import irs

SIZES = (4, 6, 8)


def test_identity_beats_rotated_beats_random():
    f = make_factors(6000, SIZES)
    z = standardise(f, SIZES)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    ident = irs(z + 0.01 * rng.standard_normal(z.shape), f)
    assert ident["irs"] > 0.95
    assert ident["irs_parent_factor"].tolist() == [0, 1, 2]
    assert ident["irs"] > irs(z @ q, f)["irs"] > irs(rng.standard_normal(z.shape), f)["irs"]


def test_constant_latents_dropped():
    f = make_factors(2000, SIZES)
    z = np.concatenate([standardise(f, SIZES), np.ones((2000, 1))], axis=1)
    out = irs(z, f)
    assert out["irs_num_active_dims"] == 3
    assert out["irs_matrix"].shape == (3, 3)
    assert irs(np.ones((50, 2)), f[:50])["irs"] == 0.0
