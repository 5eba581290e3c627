"""COCO compressed RLE as in MOTS instances_txt: the website's example line and round trips."""

import numpy as np
import pytest

from slowvae.errors import SlowVAEError
from slowvae.masks.rle import rle_counts, rle_decode, rle_encode

# the MOTS website's example line (frame 52, object 1005, 375x1242); 283 pixels, rows 168-178,
# columns 890-930, as decoded by pycocotools (docs/datasets.md §7)
MOTS_EXAMPLE = "WSV:2d;1O10000O10000O1O100O100O1O100O1000000000000000O100O102N5K00O1O1N2O110OO2O001O1NTga3"


def test_decodes_the_mots_example_line():
    mask = rle_decode(MOTS_EXAMPLE, 375, 1242)
    rows, cols = np.nonzero(mask)
    assert mask.shape == (375, 1242) and mask.sum() == 283
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (168, 178, 890, 930)
    assert rle_encode(mask) == MOTS_EXAMPLE


def test_round_trip_random_masks():
    rng = np.random.default_rng(0)
    for _ in range(100):
        h, w = rng.integers(1, 40, 2)
        mask = rng.random((h, w)) < rng.random()
        assert np.array_equal(rle_decode(rle_encode(mask), h, w), mask)


def test_column_major_order():
    mask = np.zeros((3, 4), bool)
    mask[0, 1] = True  # linear index 3 in column-major order
    assert list(rle_counts(rle_encode(mask))) == [3, 1, 8]


@pytest.mark.parametrize("bad", ["WSV:2d;1O1", "ab~", "P"])
def test_malformed_strings_raise(bad):
    with pytest.raises(SlowVAEError):
        rle_decode(bad, 375, 1242)
