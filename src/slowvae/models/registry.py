"""The model registry: model name -> class.

A model is found, in this order, as

1. a built-in name (:data:`MODELS`, in the order ``slowvae models`` lists them);
2. an entry point of the group ``slowvae.models`` of an installed package (its name is the model
   name, its object the class), for example in the package's ``pyproject.toml``::

       [project.entry-points."slowvae.models"]
       my-vae = "my_package.models:MyVAE"

3. ``package.module:ClassName``: the class is imported from an importable module.

Every class follows the model interface of :mod:`slowvae.models.base` (subclass
:class:`~slowvae.models.base.PairModel` or :class:`~slowvae.models.base.ContrastivePairModel`).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from slowvae.errors import SlowVAEError
from slowvae.models.ada_gvae import AdaGVAE, AdaMLVAE
from slowvae.models.annealed_vae import AnnealedVAE
from slowvae.models.base import PairModel
from slowvae.models.beta_tcvae import BetaTCVAE
from slowvae.models.beta_vae import BetaVAE
from slowvae.models.dip_vae import DIPVAEI, DIPVAEII
from slowvae.models.factor_vae import FactorVAE
from slowvae.models.infonce import InfoNCE
from slowvae.models.pcl import PCL
from slowvae.models.slowvae import SlowVAE
from slowvae.models.slowvae_gl import SlowVAEGL

#: the entry-point group through which other packages add models
ENTRY_POINT_GROUP = "slowvae.models"

#: built-in model name -> class, in the order `slowvae models` lists them
MODELS: dict[str, type[PairModel]] = {
    cls.name: cls
    for cls in (
        SlowVAE,
        SlowVAEGL,
        BetaVAE,
        AnnealedVAE,
        FactorVAE,
        DIPVAEI,
        DIPVAEII,
        BetaTCVAE,
        AdaGVAE,
        AdaMLVAE,
        PCL,
        InfoNCE,
    )
}


def register_model(cls: type[PairModel], name: str | None = None) -> type[PairModel]:
    """Add ``cls`` to :data:`MODELS` under ``name`` (default ``cls.name``); usable as a decorator."""
    key = name or cls.name
    if key in MODELS and MODELS[key] is not cls:
        raise SlowVAEError(f"a model named {key!r} is already registered")
    _check_interface(cls, key)
    MODELS[key] = cls
    return cls


def model_names() -> list[str]:
    """Every model name: the built-in ones, then those of installed ``slowvae.models`` entry points."""
    return [*MODELS, *(name for name in sorted(_entry_points()) if name not in MODELS)]


def model_class(name: str) -> type[PairModel]:
    """The class of model ``name``: a registered name, an entry point, or ``package.module:ClassName``."""
    if name in MODELS:
        return MODELS[name]
    eps = _entry_points()
    if name in eps:
        try:
            cls = eps[name].load()
        except Exception as err:  # a broken plugin is reported, not a traceback
            raise SlowVAEError(f"model {name!r} (entry point {eps[name].value}) failed to load: {err}") from None
        return _check_interface(cls, name)
    if ":" in name:
        return _check_interface(_import_object(name), name)
    raise SlowVAEError(
        f"unknown model {name!r}; known: {', '.join(sorted(model_names()))} (or give package.module:ClassName)"
    )


def build_model(name: str, *, channels: int, z_dim: int = 10, **hyper: Any) -> PairModel:
    """The model ``name`` (see :func:`model_class`) for images with ``channels`` channels."""
    return model_class(name)(channels=channels, z_dim=z_dim, **hyper)


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _import_object(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise SlowVAEError(f"cannot import module {module_name!r} of model {spec!r}: {err}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SlowVAEError(f"module {module_name!r} has no {attr!r} (model {spec!r})") from None
    return obj


def _check_interface(cls: Any, name: str) -> type[PairModel]:
    if not (isinstance(cls, type) and issubclass(cls, PairModel)):
        raise SlowVAEError(
            f"model {name!r} is {cls!r}, not a subclass of slowvae.models.PairModel "
            "(see the model interface in the documentation, docs/guide/extending.md)"
        )
    return cls
