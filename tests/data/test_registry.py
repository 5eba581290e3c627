"""The dataset registry: one entry per name, prefix entries, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from slowvae.data import DATASETS, DatasetEntry, get_dataset, get_pair_source, register_dataset
from slowvae.data.dsprites import ProceduralDSprites
from slowvae.data.pairs import GroundTruthPairs
from slowvae.data.registry import dataset_entry, dataset_names
from slowvae.data.transitions import make_transitions
from slowvae.errors import SlowVAEError


class _Constant:
    """A tiny PairSource: every frame shows ``value`` everywhere."""

    channels, binary, latent_names = 1, False, ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    def sample_pairs(self, n, rng):
        x = np.full((n, 1, 64, 64), self.value, np.uint8)
        lat = np.full((n, 1), float(self.value))
        return x, x.copy(), lat, lat.copy()

    def sample_eval(self, n, rng):
        return self.sample_pairs(n, rng)[0], np.full((n, 1), float(self.value))


@pytest.fixture
def registry():
    """DATASETS restored after the test."""
    saved = dict(DATASETS)
    yield DATASETS
    DATASETS.clear()
    DATASETS.update(saved)


def test_prefix_entry_receives_its_argument(registry):
    seen = []

    def pairs(transitions, *, argument, scale=1):
        seen.append((transitions, argument, scale))
        return _Constant(int(argument) * scale)

    register_dataset(DatasetEntry("const:", pairs=pairs, factors="value", source="tests"))
    rule = make_transitions("laplace", rate=1.0)
    source = get_pair_source("const:7", rule, scale=2)
    assert source.sample_eval(3, np.random.default_rng(0))[0].max() == 14
    assert seen == [(rule, "7", 2)]
    assert "const:..." in dataset_names()
    with pytest.raises(SlowVAEError, match="needs an argument after the colon"):
        get_pair_source("const:")
    with pytest.raises(SlowVAEError, match="already registered"):
        register_dataset(DatasetEntry("const:", pairs=pairs))


def test_grid_entry_builds_ground_truth_pairs(registry):
    register_dataset(DatasetEntry("tiny-grid", grid=ProceduralDSprites))
    assert isinstance(get_dataset("tiny-grid"), ProceduralDSprites)
    source = get_pair_source("tiny-grid", make_transitions("uniform"))
    assert isinstance(source, GroundTruthPairs)
    with pytest.raises(SlowVAEError, match="needs a transition rule"):
        get_pair_source("tiny-grid")


def test_every_builtin_name_has_one_entry_with_a_factory():
    for name, entry in DATASETS.items():
        assert entry.name == name and (entry.grid is not None or entry.pairs is not None), name
        if entry.is_prefix:  # frames: -> frames:PATH
            assert dataset_entry(name + "some/path") == (entry, {"argument": "some/path"})
            with pytest.raises(SlowVAEError, match="needs an argument after the colon"):
                dataset_entry(name)
        else:
            assert dataset_entry(name) == (entry, {})
    assert "frames:" in DATASETS and "frames:..." in dataset_names()
    assert get_pair_source("natural-like").latent_names  # a natural source needs no transition rule
    with pytest.raises(SlowVAEError, match="no factor grid.*natural-sprites-binned is its gridded form"):
        get_dataset("natural-sprites")
    with pytest.raises(SlowVAEError, match="unknown dataset 'nope'; known: dsprites-procedural, dsprites"):
        get_pair_source("nope")


def test_entry_point_dataset_returns_the_plugins_pair_source(plugin_package):
    assert "moving-square" in dataset_names() and "moving-square" not in DATASETS
    source = get_pair_source("moving-square", size=6)
    assert type(source).__module__ == plugin_package and source.latent_names == ("x", "y")
    x_t, x_next, lat_t, lat_next = source.sample_pairs(16, np.random.default_rng(0))
    assert x_t.shape == (16, 1, 64, 64) and x_t.dtype == np.uint8
    assert (x_t.sum(axis=(1, 2, 3)) == 36).all() and np.abs(lat_next - lat_t).max() <= 1
    entry, carried = dataset_entry("moving-square")
    assert carried == {} and entry.origin == "entry point slowvae_plugin_example:moving_square"


def test_dataset_options_are_typed_fields_of_the_entry():
    from slowvae.config import dataset_options, settable_options

    frames = DATASETS["frames:"]
    assert frames.options == ("max_dt", "binary", "truth", "progress") and frames.gridded is None
    assert DATASETS["natural-sprites"].gridded == "natural-sprites-binned" and DATASETS["natural-sprites"].options == ()
    assert dataset_options("frames:clip.mp4") == frames.options and dataset_options("dsprites-procedural") == ()
    assert settable_options("frames:clip.mp4") == ("max_dt", "binary")  # truth and progress a command passes
    custom = DatasetEntry("with-options", pairs=lambda transitions, **o: None, options=("size",))
    assert custom.options == ("size",) and not hasattr(custom, "extra")
