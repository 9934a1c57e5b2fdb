"""numpy's BLAS runs on one thread inside ``one_blas_thread`` and as before outside it."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info

from emolens.blas import one_blas_thread
from emolens.vision.expression import to_gray48


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_one_blas_thread_limits_and_restores():
    np.ones((4, 4)) @ np.ones((4, 4))  # numpy's BLAS is loaded
    before = blas_threads()
    assert before, "numpy's BLAS library should be visible to threadpoolctl"
    with one_blas_thread():
        assert blas_threads() == [1] * len(before)
        with one_blas_thread():  # nested: the inner exit leaves the outer limit in place
            pass
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before


def test_crop_preprocessing_is_the_same_on_one_thread():
    crop = np.random.default_rng(3).integers(0, 256, (131, 97, 3), dtype=np.uint8)
    with one_blas_thread():
        limited = to_gray48(crop)
    np.testing.assert_array_equal(limited, to_gray48(crop))
    assert limited.shape == (48, 48)
