"""slowvae: SlowVAE (Klindt et al., ICLR 2021) with its datasets, baselines and metrics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("slowvae")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"


def __getattr__(name: str) -> object:
    """``slowvae.load_run``, imported on first use (``import slowvae`` stays light)."""
    if name == "load_run":
        from slowvae.rundir import load_run

        return load_run
    raise AttributeError(f"module 'slowvae' has no attribute {name!r}")


__all__ = ["__version__", "load_run"]
