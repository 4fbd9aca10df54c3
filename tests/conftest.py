"""Shared fixtures. Data from ../shared/benchmarks: skipped when absent, but a failure under CI."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nnv.core import Network

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "benchmarks"


def _need_shared() -> Path:
    if SHARED.is_dir():
        return SHARED
    message = f"{SHARED} is absent"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI must always have it")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared() -> Path:
    """The public benchmark data folder (../shared/benchmarks)."""
    return _need_shared()


@pytest.fixture(scope="session")
def nnsynth(shared: Path) -> Path:
    return shared / "nnsynth"


@pytest.fixture(scope="session")
def acasxu(shared: Path) -> Path:
    return shared / "acasxu"


def random_network(rng: np.random.Generator, shape: tuple[int, ...]) -> Network:
    """A random ReLU network of the given layer sizes (input first)."""
    layers = []
    for n_in, n_out in zip(shape[:-1], shape[1:], strict=True):
        layers.append(
            (rng.normal(size=(n_out, n_in)) / np.sqrt(n_in), rng.normal(size=n_out) * 0.3)
        )
    return Network(layers)
