"""Benchmark fixtures: tests/conftest.py's, loaded from that file rather than repeated.

So the benchmarks follow the same rule for the public data in ../shared/benchmarks (skipped
when absent, a failure under CI) through the same ``shared``, ``nnsynth`` and ``acasxu``
fixtures. Re-exporting every public name also keeps ``from conftest import ...`` in tests/
working when one run collects both folders (``pytest tests benchmarks``): pytest imports
both files under the module name ``conftest``, and the later one wins.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_TESTS_CONFTEST = Path(__file__).resolve().parent.parent / "tests" / "conftest.py"


def _load_tests_conftest() -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("_nnv_tests_conftest", _TESTS_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: value for name, value in vars(module).items() if not name.startswith("_")}


globals().update(_load_tests_conftest())
