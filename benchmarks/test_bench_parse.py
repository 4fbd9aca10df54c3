"""Reading VNN-LIB: every property file of the ACAS Xu and the VNN-COMP sets, one set a case.

Run from the repository root (``pytest`` alone runs only tests/)::

    pytest benchmarks/test_bench_parse.py

The files are read into memory first, so the time is the parser's alone (tokens, the nesting
limit, DNF, the property's arrays), three rounds of one pass over the set.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from nnv.plugins.loaders.vnnlib_format import parse_vnnlib


@pytest.mark.parametrize("suite", ["acasxu", "vnncomp"])
def test_parse_vnnlib(benchmark: BenchmarkFixture, shared: Path, suite: str) -> None:
    texts = [(path, path.read_text()) for path in sorted((shared / suite).rglob("*.vnnlib"))]
    properties = benchmark.pedantic(
        lambda: [parse_vnnlib(text, path) for path, text in texts], rounds=3, iterations=1
    )
    benchmark.extra_info.update(
        files=len(texts), megabytes=sum(map(len, dict(texts).values())) / 1e6
    )
    assert len(properties) == len(texts) > 0
