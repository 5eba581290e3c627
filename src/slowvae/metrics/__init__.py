"""The disentanglement metric suite, array first.

Every core takes ``codes`` (N, D) float and ``factors`` (N, K) int factor indices (plus test arrays
where the metric has a train/test split), uses every row it is given and returns a dict of named
numbers. The BetaVAE and FactorVAE scores take a dataset (``factor_sizes`` and
``images(factors)``), an ``encode(images) -> codes`` callable and a seeded numpy Generator.
:func:`compute_suite` runs a preset of all of them; each metric is one entry of the registry in
:mod:`slowvae.metrics.registry`. This package imports numpy, scipy and
scikit-learn only (LightGBM optionally): no model class, no torch module, no argument parsing.
"""

from slowvae.metrics.beta_vae import beta_vae_score
from slowvae.metrics.dci import dci
from slowvae.metrics.factor_vae import factor_vae_score
from slowvae.metrics.irs import irs
from slowvae.metrics.mcc import mcc
from slowvae.metrics.mig import mig
from slowvae.metrics.modularity import explicitness, modularity, modularity_explicitness
from slowvae.metrics.registry import METRICS, PRESETS, MetricData, MetricEntry, register_metric
from slowvae.metrics.sap import sap
from slowvae.metrics.suite import compute_suite, samples_needed
from slowvae.metrics.udr import udr
from slowvae.metrics.unsupervised import unsupervised

__all__ = [
    "METRICS",
    "PRESETS",
    "MetricData",
    "MetricEntry",
    "beta_vae_score",
    "compute_suite",
    "dci",
    "explicitness",
    "factor_vae_score",
    "irs",
    "mcc",
    "mig",
    "modularity",
    "modularity_explicitness",
    "register_metric",
    "samples_needed",
    "sap",
    "udr",
    "unsupervised",
]
