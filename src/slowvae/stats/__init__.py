"""Statistics of natural transitions: how sparsely segmented objects (or latents) move.

The readers of :mod:`slowvae.masks` (re-exported here) turn annotation files into object tracks
(x, y, area); ``differences.transitions`` computes their differences at a time step; ``fit`` gives Gaussian, Laplace and generalized-Laplace
maximum-likelihood fits with kurtosis, AIC/BIC, KS distance and a bootstrap interval for the
shape alpha (Klindt et al., ICLR 2021, Sec. 3 and Fig. 1); ``plot`` draws the paper's
log-density figure.
"""

from slowvae.masks.readers import (
    read_id_png,
    read_kitti_pickle,
    read_mask_array,
    read_mask_dir,
    read_mots,
    read_natural_sprites_csv,
)
from slowvae.masks.rle import rle_decode, rle_encode
from slowvae.masks.tracks import mask_latents, tracks_from_id_maps
from slowvae.stats.differences import UNITS, VARIABLES, transitions
from slowvae.stats.fit import (
    excess_kurtosis,
    fit_all,
    fit_gaussian,
    fit_gennorm,
    fit_laplace,
    fit_transitions,
    ks_statistic,
)

__all__ = [
    "UNITS",
    "VARIABLES",
    "excess_kurtosis",
    "fit_all",
    "fit_gaussian",
    "fit_gennorm",
    "fit_laplace",
    "fit_transitions",
    "ks_statistic",
    "mask_latents",
    "read_id_png",
    "read_kitti_pickle",
    "read_mask_array",
    "read_mask_dir",
    "read_mots",
    "read_natural_sprites_csv",
    "rle_decode",
    "rle_encode",
    "tracks_from_id_maps",
    "transitions",
]
