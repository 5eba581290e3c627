"""COCO "compressed RLE" strings, as in the MOTS ``instances_txt`` files, without pycocotools.

A mask is run-length coded in column-major order, starting with a run of zeros. Each count
is written as 5-bit groups, least significant first, as ``chr(group + 48)``; bit 0x20 says
another group follows, bit 0x10 of the last group is the sign. From the fourth count on, the
value stored is the difference to the count two places earlier (pycocotools ``rleFrString`` /
``rleToString``; MOTS format: Voigtlaender et al., CVPR 2019, mots_tools ``io.py``).
"""

from __future__ import annotations

import numpy as np

from slowvae.errors import SlowVAEError


def rle_counts(rle: str | bytes) -> np.ndarray:
    """The run lengths int64 (M,) coded in a compressed COCO RLE string."""
    data = rle.encode("ascii") if isinstance(rle, str) else bytes(rle)
    counts: list[int] = []
    p, end = 0, len(data)
    while p < end:
        x = k = 0
        more = True
        while more:
            if p >= end:
                raise SlowVAEError(f"truncated RLE string (ends inside a count): {data[:40]!r}...")
            c = data[p] - 48
            if not 0 <= c < 64:
                raise SlowVAEError(f"invalid character {chr(data[p])!r} in RLE string {data[:40]!r}...")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return np.asarray(counts, dtype=np.int64)


def rle_decode(rle: str | bytes, height: int, width: int) -> np.ndarray:
    """Decode a compressed COCO RLE string into a bool mask (height, width)."""
    counts = rle_counts(rle)
    total = height * width
    if (counts < 0).any() or counts.sum() != total:
        raise SlowVAEError(
            f"RLE counts sum to {int(counts.sum())} (or are negative), but the mask is "
            f"{height}x{width} = {total} pixels"
        )
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True  # runs alternate, starting with background
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T  # column-major


def rle_encode(mask: np.ndarray) -> str:
    """Encode a 2-D mask (nonzero = foreground) as a compressed COCO RLE string."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise SlowVAEError(f"rle_encode needs a 2-D mask, got shape {mask.shape}")
    flat = mask.T.ravel() != 0  # column-major
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = list(np.diff(bounds))
    if flat.size and flat[0]:
        counts.insert(0, 0)
    out = bytearray()
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(c + 48)
    return out.decode("ascii")
