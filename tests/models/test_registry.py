"""The model registry: built-in names, ``package.module:ClassName`` and the ``slowvae.models``
entry points of an installed package (tests/plugin_pkg)."""

from __future__ import annotations

import pytest
import torch

from slowvae.errors import SlowVAEError
from slowvae.models import MODELS, build_model, model_class, model_names


def test_builtin_names_come_first_and_resolve_to_their_classes():
    assert model_names()[: len(MODELS)] == list(MODELS)
    for name, cls in MODELS.items():
        assert model_class(name) is cls


def test_module_class_form_and_entry_point_give_the_plugin_class(plugin_package):
    cls = model_class(f"{plugin_package}:TinyVAE")
    assert cls.__name__ == "TinyVAE" and cls.__module__ == plugin_package
    assert model_class("tiny-vae") is cls  # the entry point of the installed distribution
    assert "tiny-vae" in model_names() and "tiny-vae" not in MODELS
    model = build_model("tiny-vae", channels=1, z_dim=3, beta=2.0)
    assert model.hyper == {"beta": 2.0}
    out = model(torch.rand(2, 4, 1, 64, 64), torch.Generator().manual_seed(0))
    assert set(out) == {"loss", "recon", "kl"}
    assert torch.allclose(out["loss"], out["recon"] + 2.0 * out["kl"])


def test_plugin_is_invisible_without_its_distribution():
    assert "tiny-vae" not in model_names()
    with pytest.raises(SlowVAEError, match="unknown model 'tiny-vae'"):
        model_class("tiny-vae")


@pytest.mark.parametrize(
    "name, message",
    [
        ("no_such_module_xyz:Model", "cannot import module 'no_such_module_xyz'"),
        ("slowvae.models:NoSuchClass", "has no 'NoSuchClass'"),
        ("slowvae.models.losses:reparametrize", "not a subclass of slowvae.models.PairModel"),
    ],
)
def test_bad_module_class_names_are_clear_errors(name, message):
    with pytest.raises(SlowVAEError, match=message):
        model_class(name)
