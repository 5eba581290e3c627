"""slowvae.data.arrays.atomic_path: a failed write names the file meant, not its temporary name."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from slowvae.data.arrays import atomic_path


def test_a_failed_write_names_the_file_meant(tmp_path, fail_writes):
    (tmp_path / "ro").mkdir()
    fail_writes(tmp_path / "ro", errno.EROFS)
    target = tmp_path / "ro" / "codes.npy"
    with pytest.raises(OSError) as err:
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.zeros(3))
    assert err.value.errno == errno.EROFS and err.value.filename == str(target)
    assert list((tmp_path / "ro").iterdir()) == []
