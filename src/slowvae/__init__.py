"""slowvae: SlowVAE (Klindt et al., ICLR 2021) with its datasets, baselines and metrics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("slowvae")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
