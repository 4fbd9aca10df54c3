"""``nnv verify --instances CSV --out DIR`` on real ACAS Xu and VNN-COMP rows (short timeouts)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from cli_helpers import assert_bad_input, nnv

# (CSV folder, onnx, vnnlib, known answer): ACAS Xu sat and unsat, VNN-COMP rl_benchmarks
ROWS = [
    ("acasxu", "ACASXU_run2a_1_1_batch_2000.onnx", "prop_1.vnnlib", "unsat"),
    ("acasxu", "ACASXU_run2a_1_9_batch_2000.onnx", "prop_3.vnnlib", "sat"),
    ("vnncomp", "rl_benchmarks/onnx/cartpole.onnx",
     "rl_benchmarks/vnnlib/cartpole_case_unsafe_42.vnnlib", "sat"),
    ("vnncomp", "rl_benchmarks/onnx/cartpole.onnx",
     "rl_benchmarks/vnnlib/cartpole_case_safe_9.vnnlib", "unsat"),
]  # fmt: skip


def _csv(shared: Path, folder: Path) -> Path:
    """A CSV with a header (family, expected, another tool's time), absolute paths."""
    path = folder / "instances.csv"
    lines = ["family,onnx,vnnlib,timeout_s,expected,other_s"]
    for family, onnx, vnnlib, answer in ROWS:
        base = shared / family
        lines.append(f"{family},{base / onnx},{base / vnnlib},60,{answer},1.5")
    path.write_text("\n".join(lines) + "\n")
    return path


def _results(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open() as stream:
        return list(csv.DictReader(stream))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_batch_verdicts_files_and_resume(shared: Path, tmp_path: Path, executor: str) -> None:
    table, out = _csv(shared, tmp_path), tmp_path / "out"
    done = nnv("verify", "--instances", str(table), "--out", str(out), "--executor", executor,
               "--workers", "2", "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = _results(out)
    assert [row["expected"] for row in rows] == [answer for *_, answer in ROWS]
    assert [row["verdict"] for row in rows] == [row["expected"] for row in rows]
    assert {row["check"] for row in rows} == {"right"}
    assert {row["family"] for row in rows} == {"acasxu", "vnncomp"}
    for row in rows:  # the same result file the single-instance command writes
        text = (out / row["result_file"]).read_text()
        assert text.splitlines()[0] == row["verdict"]
        if row["verdict"] == "sat":
            assert "(X_0 " in text and "(Y_0 " in text
    single = tmp_path / "single.txt"
    first = rows[0]
    assert nnv("verify", first["network"], first["property"], "--result-file", str(single),
               "--timeout", "60").returncode == 0  # fmt: skip
    assert single.read_text() == (out / first["result_file"]).read_text()
    assert (out / "cactus.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    again = nnv("verify", "--instances", str(table), "--out", str(out), "--quiet")
    assert again.returncode == 0, again.stderr
    assert f"resumed {len(ROWS)} rows" in again.stdout
    assert [row["time"] for row in _results(out)] == [row["time"] for row in rows]


@pytest.mark.shared
@pytest.mark.slow
def test_batch_reruns_a_sat_row_whose_counterexample_no_longer_replays(
    shared: Path, tmp_path: Path
) -> None:
    table, out = _csv(shared, tmp_path), tmp_path / "out"
    assert nnv("verify", "--instances", str(table), "--out", str(out), "--quiet").returncode == 0
    sat = next(row for row in _results(out) if row["verdict"] == "sat")
    forged = (out / sat["result_file"]).read_text().replace("(X_0 ", "(X_0 1e9) (X_9 ")
    (out / sat["result_file"]).write_text(forged)
    again = nnv("verify", "--instances", str(table), "--out", str(out), "--quiet")
    assert f"resumed {len(ROWS) - 1} rows" in again.stdout
    assert (out / sat["result_file"]).read_text() != forged


@pytest.mark.shared
def test_a_wrong_expected_answer_is_exit_code_1(shared: Path, tmp_path: Path) -> None:
    base = shared / "acasxu"
    table = tmp_path / "wrong.csv"  # VNN-COMP's layout, no header; the 4th column lies
    table.write_text(f"{base}/ACASXU_run2a_1_1_batch_2000.onnx,{base}/prop_1.vnnlib,60,sat\n")
    done = nnv("verify", "--instances", str(table), "--out", str(tmp_path / "out"), "--quiet")
    assert done.returncode == 1
    assert "1 WRONG" in done.stdout
    assert _results(tmp_path / "out")[0]["check"] == "wrong"


@pytest.mark.shared
@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{acas}/ACASXU_run2a_1_1_batch_2000.onnx,{acas}/missing.vnnlib,60\n", "no such file"),
        ("{acas}/ACASXU_run2a_1_1_batch_2000.onnx,{acas}/prop_1.vnnlib,-5\n", "positive"),
        ("{acas}/ACASXU_run2a_1_1_batch_2000.onnx,{acas}/prop_1.vnnlib,soon\n", "not a number"),
        ("{acas}/ACASXU_run2a_1_1_batch_2000.onnx,{acas}/prop_1.vnnlib\n", "found 2 columns"),
        ("{acas}/prop_1.vnnlib,{acas}/prop_1.vnnlib,60\n", "no network-loader"),
        ("onnx,vnnlib\n", "no timeout or timeout_s column"),
        ("", "no instances"),
    ],
)
def test_bad_csv_is_refused_and_the_folder_unchanged(
    shared: Path, tmp_path: Path, content: str, fragment: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text("an earlier run's file\n")
    before = _snapshot(out)
    table = tmp_path / "bad.csv"
    table.write_text(content.format(acas=shared / "acasxu"))
    assert_bad_input(nnv("verify", "--instances", str(table), "--out", str(out)), fragment)
    assert _snapshot(out) == before
