"""Trust boundaries of ``nnv run``: what a results folder says is never taken on trust, a run
that fails leaves an earlier run's folder as it was, and the whole-run timeout holds."""

from __future__ import annotations

import csv
import hashlib
import json
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from cli_helpers import assert_bad_input, nnv
from test_run import EXAMPLE, FREE, example_args, example_config, read_rows

from nnv.core import Query, Solution, Solver, hookimpl
from nnv.core.plugin.registry import Registry
from nnv.core.run.dispatch import run_repair


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file of ``folder`` by name, as a hash of its bytes."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


@pytest.fixture(scope="module")
def layer_2_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished search over the example's output layer (18 trials, 6 repair it)."""
    out = tmp_path_factory.mktemp("trust") / "prev"
    done = nnv("run", *example_args(out, "--layers", "2"), "--json")
    assert done.returncode == 0, done.stderr
    return out


def _copy(folder: Path, to: Path) -> Path:
    to.mkdir()
    for path in folder.iterdir():
        (to / path.name).write_bytes(path.read_bytes())
    return to


# -- 1. resume re-certifies what trials.csv claims -----------------------------------------


def test_a_forged_repaired_row_is_certified_again_and_demoted(
    layer_2_run: Path, tmp_path: Path
) -> None:
    out = _copy(layer_2_run, tmp_path / "forged")
    rows = read_rows(out)
    forged = next(row for row in rows if row["status"] == "not_repaired")
    forged.update(
        status="repaired",
        accuracy="1.0",
        kept="800",
        certified_by="z3 (exact)",
        values=json.dumps({forged["free"]: 0.5}),
    )
    with (out / "trials.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    done = nnv("run", *example_args(out, "--layers", "2"), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["resumed"] == 18
    assert result["free"] != [forged["free"]]  # the forged row is not the reported repair
    assert result["demoted"] == [
        {"free": [forged["free"]], "message": result["demoted"][0]["message"]}
    ]
    assert "failed re-certification" in result["message"]
    demoted = next(row for row in read_rows(out) if row["free"] == forged["free"])
    assert demoted["status"] == "not_repaired" and "resumed from trials.csv" in demoted["message"]
    # what is reported as repaired really is: the written network proves the property
    check = nnv("verify", str(out / "repaired.onnx"), str(EXAMPLE / "robust_violated.vnnlib"))
    assert check.stdout.splitlines()[0] == "unsat", check.stdout


def test_a_resumed_repair_is_reported_with_accuracy_recomputed(
    layer_2_run: Path, tmp_path: Path
) -> None:
    """Inflating a genuine repair's accuracy in the file changes nothing that is reported."""
    out = _copy(layer_2_run, tmp_path / "inflated")
    honest = json.loads((out / "result.json").read_text())
    text = (out / "trials.csv").read_text()
    rows = read_rows(out)
    chosen = next(row for row in rows if row["free"] == ",".join(honest["free"]))
    (out / "trials.csv").write_text(text.replace(chosen["accuracy"], "1.0", 1))
    done = nnv("run", *example_args(out, "--layers", "2"), "--json")
    result = json.loads(done.stdout)
    assert result["free"] == honest["free"]
    assert result["accuracy_after"] == honest["accuracy_after"]
    assert result["certified_by"] and not result["demoted"]


def test_a_malformed_row_runs_again(layer_2_run: Path, tmp_path: Path) -> None:
    out = _copy(layer_2_run, tmp_path / "malformed")
    rows = read_rows(out)
    rows[0]["values"] = "{not json"
    rows[1]["free"] = "w9.9.9"  # no such parameter
    with (out / "trials.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    done = nnv("run", *example_args(out, "--layers", "2"), "--json")
    result = json.loads(done.stdout)
    assert result["resumed"] == 16 and result["trials"] == 18
    assert {row["free"] for row in read_rows(out)} >= {rows[0]["free"]}
    assert "w9.9.9" not in {row["free"] for row in read_rows(out)}


def test_the_fingerprint_covers_settings_and_code() -> None:
    from nnv.core.run.fingerprint import engine_version

    first = engine_version()
    assert len(first) == 64 and engine_version() == first


def test_a_run_with_other_settings_does_not_resume(layer_2_run: Path, tmp_path: Path) -> None:
    out = _copy(layer_2_run, tmp_path / "other")
    fingerprint = json.loads((out / "run.json").read_text())
    assert {"engine", "libraries", "repair_settings", "certifier", "solver_options"} <= set(
        fingerprint
    )
    done = nnv("run", *example_args(out, "--layers", "2"), "--workers", "1", "--json")
    assert json.loads(done.stdout)["resumed"] == 18  # where trials run decides nothing
    done = nnv("run", *example_args(out, "--layers", "2"), "--seed", "3", "--json")
    assert json.loads(done.stdout)["resumed"] == 0  # the samples heuristic's seed might
    done = nnv("run", *example_args(out, "--layers", "2"), "--max-change", "5", "--json")
    assert json.loads(done.stdout)["resumed"] == 0


# -- 2. a failed run leaves an earlier run's folder as it was ------------------------------


BAD_RUNS = {
    "quantified with a MILP solver": (["--free", "b2.1", "--mode", "quantified"], "quantified"),
    "an unknown address": (["--free", "w9.1.1"], "w9.1.1"),
    "bilinear with a MILP solver": (["--free", "w1.1.1,w2.1.1,w2.2.1"], "multiply each other"),
    "max-change nan": (["--free", FREE, "--max-change", "nan"], "--max-change"),
    "max-change inf": (["--free", FREE, "--max-change", "inf"], "max_change"),
    "max-change zero": (["--free", FREE, "--max-change", "0"], "max_change"),
}


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_a_bad_run_changes_nothing_in_the_folder(
    layer_2_run: Path, tmp_path: Path, case: str
) -> None:
    out = _copy(layer_2_run, tmp_path / "prev")
    before = _snapshot(out)
    args, fragment = BAD_RUNS[case]
    done = nnv("run", *example_args(out, *args))
    assert_bad_input(done, fragment)
    assert _snapshot(out) == before


def _data_with(tmp_path: Path, name: str, **changes: np.ndarray) -> Path:
    with np.load(EXAMPLE / "data.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays.update(changes)
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def test_bad_data_is_refused_before_the_folder_is_touched(
    layer_2_run: Path, tmp_path: Path
) -> None:
    out = _copy(layer_2_run, tmp_path / "prev")
    before = _snapshot(out)
    with np.load(EXAMPLE / "data.npz") as archive:
        X, y = archive["X_train"], archive["y_train"]
    seven = y.copy()
    seven[3] = 7
    cases = {
        "label outside the classes": (_data_with(tmp_path, "seven", y_train=seven), "label 7"),
        "fractional labels": (
            _data_with(tmp_path, "half", y_train=y + 0.5),
            "whole class numbers",
        ),
        "empty train split": (
            _data_with(tmp_path, "empty", X_train=X[:0], y_train=y[:0]),
            "train split is empty",
        ),
    }
    for data, fragment in cases.values():
        args = example_args(out, "--layers", "2")
        args[args.index("--data") + 1] = str(data)
        assert_bad_input(nnv("run", *args), fragment)
        assert _snapshot(out) == before


# -- 3. the whole-run timeout holds however slow the trials are ----------------------------


class _HangingSolver(Solver):
    """Ignores every time limit, like a solver stuck in a hard MILP."""

    name = "hanging"
    capabilities: ClassVar[frozenset[str]] = frozenset({"linear", "integer", "optimize"})

    def _solve(self, query: Query, timeout: float | None = None) -> Solution:
        time.sleep(3600)
        raise AssertionError("not reached")


class _HangingPlugin:
    @hookimpl
    def nnv_solvers(self) -> dict[str, type]:
        return {"hanging": _HangingSolver}


def test_the_run_timeout_stops_trials_that_ignore_their_limits(tmp_path: Path) -> None:
    """Six pair trials that would each run for an hour, two at a time, under a 2 s run
    timeout: the run ends right after it, records the two it stopped, starts no other, and
    writes result.json; a resumed run runs the stopped ones again."""
    registry = Registry(plugins=(_HangingPlugin(),))  # type: ignore[arg-type]
    pairs = [[f"b2.{i}", f"w2.{i}.{j}"] for i in (1, 2) for j in (1, 2, 3)]
    config = example_config(
        tmp_path, free_sets=pairs, solver="hanging", line_synthesis=False, timeout=2.0, workers=2
    )
    started = time.monotonic()
    outcome = run_repair(config, registry)
    assert time.monotonic() - started < 30  # not hours: the trials ignore every limit
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "timeout" and result["cut_short"]
    assert "cut the search short: 2 trials stopped, 4 not started" in result["message"]
    rows = read_rows(tmp_path)
    assert len(rows) == 2 and all(r["status"] == "timeout" and r["cut_short"] for r in rows)
    assert len(outcome.trials) == 2
    again = run_repair(config, registry)
    assert again.result.details.resumed == 0  # the stopped trials are not taken as finished
