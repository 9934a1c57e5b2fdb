"""numpy's BLAS kept to one thread around the pipelines' many small matrix products.

The media pipelines multiply small matrices per face, per frame and per window (a 48x48
resize, luma, appearance vectors, fusion), between onnxruntime calls whose own thread pool
keeps spinning for a while after each run. OpenBLAS then wakes a thread per core for a
48x120 product and waits for cores that onnxruntime (or another job) holds: measured on the
2-core machine, a face crop's preprocessing took 9.5 ms that way and 0.5 ms on one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any


@cache
def _controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries (finding them takes a few ms)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with numpy's BLAS limited to one thread, restored afterwards.

    Entering the limit costs about 20 microseconds once the controller exists, so this can wrap
    a single frame.
    """
    with _controller().limit(limits=1, user_api="blas"):
        yield
