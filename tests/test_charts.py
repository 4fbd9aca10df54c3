"""The benchmark charts can be drawn again from the committed reports, running nothing:
``report.py --chart-from`` (Tables 4 and 5) and ``acasxu_sample.py --redraw`` (ACAS Xu)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PNG = b"\x89PNG\r\n\x1a\n"


def _script(name: str) -> ModuleType:
    """A benchmark script loaded from its file (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "benchmarks" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _draw(*args: str | Path) -> str:
    done = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_tables45_rows_read_back_from_the_report(tmp_path: Path) -> None:
    report = _script("report.py")
    rows = report.rows_from_report(RESULTS / "tables45.md")
    assert [row.label for row in rows] == [block.label for block in report.BLOCKS]
    pairs = rows[1]  # XOR-B p1 singles+pairs: 99.40 in 327 s against 99.26 in 92008 s
    assert (pairs.nnv.best, pairs.nnv.wall, pairs.paper.best, pairs.paper.seconds) == (
        99.40, 327.0, 99.26, 92008.0,
    )  # fmt: skip
    shutil.copyfile(RESULTS / "tables45.md", tmp_path / "tables45.md")
    _draw(ROOT / "benchmarks" / "report.py", "--chart-from", tmp_path / "tables45.md")
    assert (tmp_path / "tables45.png").read_bytes()[:8] == PNG


def test_acasxu_cactus_redrawn_from_its_report(tmp_path: Path) -> None:
    sample = _script("acasxu_sample.py")
    title, rows = sample.read_report(RESULTS / "acasxu_all.md")
    assert title.startswith("ACAS Xu, all instances") and len(rows) == 186
    assert all(row.right for row in rows)
    said = _draw(ROOT / "benchmarks" / "acasxu_sample.py", "--out", RESULTS / "acasxu_all.md",
                 "--plot", tmp_path / "all.png", "--redraw")  # fmt: skip
    assert "186 rows" in said and (tmp_path / "all.png").read_bytes()[:8] == PNG
