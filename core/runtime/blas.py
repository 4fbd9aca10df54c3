"""How many threads OpenBLAS (and torch) may use, set at run time.

Branch and bound multiplies many small matrices; OpenBLAS's threads cost more than they give
there, and far more when other processes share the cores (they spin while they wait). numpy
reads ``OPENBLAS_NUM_THREADS`` only when it is first imported, so the count is set through the
library's own ``*set_num_threads*`` call instead, as threadpoolctl does. Where no OpenBLAS can
be found (another BLAS, another platform) this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


_GETTERS = (
    "scipy_openblas_get_num_threads64_",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)


@functools.cache
def _openblas() -> tuple[tuple[Any, Any], ...]:
    """(set, get) of every OpenBLAS loaded in this process (numpy's and scipy's may differ)."""
    maps = Path("/proc/self/maps")
    if not maps.is_file():
        return ()
    fields = (line.split() for line in maps.read_text().splitlines())
    paths = {parts[5] for parts in fields if len(parts) >= 6 and "openblas" in parts[5].lower()}
    found = []
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(library, n) for n in _SETTERS if hasattr(library, n)), None)
        getter = next((getattr(library, n) for n in _GETTERS if hasattr(library, n)), None)
        if setter is not None and getter is not None:
            getter.restype = ctypes.c_int
            found.append((setter, getter))
    return tuple(found)


@contextlib.contextmanager
def blas_threads(count: int) -> Iterator[None]:
    """Run the block with OpenBLAS limited to ``count`` threads, then restore the old count."""
    libraries = _openblas()
    before = [getter() for _, getter in libraries]
    for setter, _ in libraries:
        setter(count)
    try:
        yield
    finally:
        for (setter, _), old in zip(libraries, before, strict=True):
            setter(old)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads, then restore the previous count (torch is
    imported here, so only the engines that run in torch pay for it)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
