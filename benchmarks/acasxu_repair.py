"""Repair ACAS Xu networks with `nnv run` and report the repair field's figures.

Usage (from the repository root):

    python benchmarks/acasxu_repair.py boxes --timeout 120 --work runs/boxes --out boxes.md
    python benchmarks/acasxu_repair.py marabou --work runs/boxes --out boxes.md
    python benchmarks/acasxu_repair.py prop2 --out benchmarks/results/acasxu_repair_prop2.md

``boxes``: N2,9 property 8 as APRNN sets it up: the region cut into boxes of side 0.05, 20 of
the violating ones repaired (`--partition 0.05 --repair-boxes 20`), the others held out for
generalisation; drawdown on points the original network labels (the data file below). Each
repaired box is then checked by Marabou on the written repaired.onnx when maraboupy is
installed (`pip install maraboupy`), piece by piece (benchmarks/marabou_boxes.py); that takes
far longer than the repair. ``marabou`` resumes the check of a kept run folder (``--work``)
from its marabou.jsonl, or only reports what the log holds (``--logged``).

``prop2``: every network whose property-2 instance is `sat` in acasxu/instances.csv, repaired
over the whole property-2 region; each "repaired" file is verified again by `nnv verify`.

The data of each network (made here, not stored): ``train`` is 2,000 points drawn uniformly
from the normalised input domain, ``test`` 1,000 points from each of properties 1, 3 and 4's
regions; both labelled by the original network (its advisory: the smallest output). A
repair's drawdown is the accuracy it loses on them. Every run is one `nnv run` process, timed
whole (start-up, loading, choosing the parameters, certification).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from marabou_boxes import (
    MARABOU_DEPTH,
    MARABOU_RECHECK,
    MARABOU_SECONDS,
    MARABOU_SPLIT,
    marabou_confirms,
    marabou_figures,
    marabou_verdicts,
)

ROOT = Path(__file__).resolve().parent.parent
ACASXU = ROOT.parent / "shared" / "benchmarks" / "acasxu"
DOMAIN = (
    np.array([-0.328422877, -0.5, -0.5, -0.5, -0.5]),
    np.array([0.679857769, 0.5, 0.5, 0.5, 0.5]),
)  # the normalised ranges of the five inputs
# the last layer free, the smallest change (L1) of its parameters: one LP-based trial
LAST_LAYER = ["--free-layer", "7", "--objective", "l1"]


def nnv_command() -> list[str]:
    beside = Path(sys.executable).parent / "nnv"
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "nnv.cli"]


def make_data(network: Path, path: Path, seed: int = 0) -> None:
    """The train and test points of the module's docstring, labelled by ``network``."""
    sys.path.insert(0, str(ROOT))
    import nnv

    net = nnv.load_network(network)
    rng = np.random.default_rng(seed)
    low, high = DOMAIN
    train = low + (high - low) * rng.random((2000, 5))
    tests = []
    for number in (1, 3, 4):
        (piece,) = nnv.load_property(ACASXU / f"prop_{number}.vnnlib").pieces
        tests.append(piece.lower + (piece.upper - piece.lower) * rng.random((1000, 5)))
    test = np.vstack(tests)
    label = lambda X: np.argmin(net.forward(X), axis=1)  # noqa: E731
    np.savez(path, X_train=train, y_train=label(train), X_test=test, y_test=label(test))


def repair(network: Path, prop: Path, data: Path, out: Path, extra: list[str]) -> dict:
    """One `nnv run`; its result.json with the whole process's wall time added."""
    command = [
        *nnv_command(), "run", "--network", str(network), "--property", str(prop),
        "--data", str(data), "--decision", "argmin", "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"nnv run failed ({done.returncode}): {done.stderr.strip()}")
    result = json.loads((out / "result.json").read_text())
    result["wall"] = wall
    result["command"] = " ".join(command)
    return result


def boxes_experiment(timeout: float, free: list[str], work: Path | None) -> str:
    """The run on the boxes, then Marabou on its repaired.onnx; the run's folder is kept in
    ``work`` when given (else a temporary folder)."""
    network = ACASXU / "ACASXU_run2a_2_9_batch_2000.onnx"
    with tempfile.TemporaryDirectory() as folder:
        base = work or Path(folder)
        base.mkdir(parents=True, exist_ok=True)
        data, run = base / "data.npz", base / "run"
        make_data(network, data)
        extra = ["--partition", "0.05", "--repair-boxes", "20", *free]
        result = repair(network, ACASXU / "prop_8.vnnlib", data, run, [*extra, "--timeout",
                        f"{timeout:g}"])  # fmt: skip
        (base / "benchmark.json").write_text(json.dumps(result))
        return marabou_experiment(base, check=True)


def marabou_experiment(work: Path, check: bool) -> str:
    """The report of the boxes run kept in ``work``, with Marabou's verdicts on its repaired
    boxes: checked now (resuming ``work``/marabou.jsonl) when ``check``, else as logged."""
    result = json.loads((work / "benchmark.json").read_text())
    repaired, log = work / "run" / "repaired.onnx", work / "marabou.jsonl"
    if not repaired.is_file():
        return _boxes_report(result, [])
    boxes = _repaired_boxes(ACASXU / "ACASXU_run2a_2_9_batch_2000.onnx", result)
    network, kept = ACASXU / "ACASXU_run2a_2_9_batch_2000.onnx", work / "held_out_again.json"
    if check:
        marabou_confirms(repaired, boxes, log)
        held_out_again(network, result, repaired, kept)
    again = json.loads(kept.read_text()) if kept.is_file() else []
    verdicts = marabou_verdicts(log, repaired, len(boxes))
    return _boxes_report(result, verdicts, again, *marabou_figures(log, repaired))


HELD_OUT_SECONDS = 120  # for each held-out box, proved again on the written file


def _partition(network: Path, result: dict):  # noqa: ANN202 - nnv's Partition, imported here
    """The run's boxes, rebuilt as nnv cut them."""
    sys.path.insert(0, str(ROOT))
    import nnv
    from nnv.core.run.regions import partition

    regions = result["regions"]
    parts = partition(
        nnv.load_network(network), [nnv.load_property(ACASXU / "prop_8.vnnlib")],
        regions["side"], len(regions["repaired_boxes"]), regions["samples_per_box"],
        result["seed"],
    )  # fmt: skip
    assert [b.name for b in parts.repair] == regions["repaired_boxes"]
    return parts


def _repaired_boxes(network: Path, result: dict) -> list[dict]:
    """The bounds of the boxes the run repaired."""
    return [
        {"lower": b.pieces[0].lower.tolist(), "upper": b.pieces[0].upper.tolist()}
        for b in _partition(network, result).repair
    ]


def held_out_again(network: Path, result: dict, repaired: Path, kept: Path) -> list[dict]:
    """`nnv verify`'s verdict on each held-out box of the written file, with
    ``HELD_OUT_SECONDS`` each (the run gives a held-out box 10 s); kept in ``kept`` and read
    from there when it is already."""
    if kept.is_file():
        return json.loads(kept.read_text())
    import nnv

    verdicts = []
    for box in _partition(network, result).held_out:
        start = time.perf_counter()
        found = nnv.verify(nnv.load_network(repaired), box, timeout=HELD_OUT_SECONDS)
        seconds = round(time.perf_counter() - start, 1)
        verdicts.append({"box": box.name, "verdict": found.status, "seconds": seconds})
    kept.write_text(json.dumps(verdicts))
    return verdicts


def _boxes_report(
    result: dict, marabou: list[str], again: list[dict] | None = None, seconds: float = 0.0,
    rechecked: int = 0, spurious: int = 0,
) -> str:  # fmt: skip
    regions = result["regions"]
    found = regions["generalisation"] or {}
    changed = result.get("parameters") or {}
    lines = [
        "# ACAS Xu N2,9 property 8: APRNN-style boxes",
        "",
        "Command: `python benchmarks/acasxu_repair.py boxes`, which runs",
        "",
        f"    {result['command']}",
        "",
        "(2-core shared development machine; whole `nnv run` process.)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| status | {result['status']} |",
        f"| proved share of the repair boxes' volume (partially_proved) | "
        f"{_share((result.get('partially_proved') or {}).get('proved_fraction'))} |",
        f"| certified by | {result['certified_by']} |",
        f"| boxes (side {regions['side']}) | {regions['boxes']} |",
        f"| violating (at {regions['samples_per_box']} samples each) | {regions['violating']} |",
        f"| repaired / held out | {len(regions['repaired_boxes'])} / {regions['held_out_boxes']} |",
        f"| parameters changed | {_moved(result)}: "
        + ", ".join(
            f"{k} {v['before']:.6g} -> {v['after']:.6g}"
            for k, v in changed.items()
            if v["after"] != v["before"]
        )
        + " |",
        f"| drawdown (train: domain, test: props 1, 3, 4) | {_percents(result['drawdown'])} |",
        f"| generalisation: held-out boxes proved | {found.get('proved')} of "
        f"{found.get('held_out')} ({_pct(found.get('boxes_generalised'))}) |",
        f"| generalisation: held-out violating points fixed | {found.get('points_fixed')} of "
        f"{found.get('points')} ({_pct(found.get('points_generalised'))}) |",
        f"| held-out boxes proved again by nnv verify on repaired.onnx, {HELD_OUT_SECONDS} s "
        f"each | {_counts([a['verdict'] for a in again or []])}"
        + (f", the slowest {max(a['seconds'] for a in again):.1f} s |" if again else " |"),
        f"| Marabou on the repaired boxes (repaired.onnx) | {_counts(marabou)} |",
        f"| Marabou's claimed violations that did not replay in onnxruntime (the piece halved "
        f"and checked again) | {spurious} |",
        f"| Marabou's time (each box in {2**MARABOU_SPLIT} pieces, {MARABOU_SECONDS} s a piece, "
        f"halved up to {MARABOU_DEPTH} times when undecided, then rechecked with "
        f"{MARABOU_RECHECK} s a check; 2 processes at once) | {seconds:.0f} s summed over the "
        f"pieces; {rechecked} pieces rechecked |",
        f"| wall time, whole command | {result['wall']:.1f} s |",
        "",
    ]
    return "\n".join(lines)


def prop2_experiment(timeout: float, free: list[str]) -> str:
    rows = []
    with open(ACASXU / "instances.csv", newline="") as stream:
        wanted = [r for r in csv.DictReader(stream) if r["vnnlib"] == "prop_2.vnnlib"]
    wanted = [r for r in wanted if r["expected"] == "sat"]
    for row in wanted:
        network = ACASXU / row["onnx"]
        with tempfile.TemporaryDirectory() as folder:
            data, run = Path(folder) / "data.npz", Path(folder) / "run"
            make_data(network, data)
            result = repair(network, ACASXU / "prop_2.vnnlib", data, run,
                            [*free, "--timeout", f"{timeout:g}"])  # fmt: skip
            again = "-"
            if (run / "repaired.onnx").is_file():
                check = subprocess.run(
                    [*nnv_command(), "verify", str(run / "repaired.onnx"),
                     str(ACASXU / "prop_2.vnnlib"), "--quiet", "--timeout", "300"],
                    capture_output=True, text=True,
                )  # fmt: skip
                again = check.stdout.split()[0] if check.stdout else "error"
            rows.append((network.name, result, again))
            print(network.name, result["status"], f"{result['wall']:.1f} s", again, flush=True)
    return _prop2_report(rows, free)


def _prop2_report(rows: list[tuple[str, dict, str]], free: list[str]) -> str:
    lines = [
        "# ACAS Xu property 2, every network where it is violated",
        "",
        f"Command: `python benchmarks/acasxu_repair.py prop2`; each run: `nnv run ... "
        f"--decision argmin {' '.join(free)}` (2-core shared machine, whole process)",
        "",
        "| network | status | parameters changed | proved share | drawdown test | nnv verify "
        "again | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    drawdowns, solved = [], 0
    for name, result, again in rows:
        test = (result.get("drawdown") or {}).get("test")
        if result["status"] == "repaired":
            solved += 1
            drawdowns.append(test)
        share = (result.get("partially_proved") or {}).get("proved_fraction")
        lines.append(
            f"| {name} | {result['status']} | {_moved(result)} | {_share(share)} | "
            f"{_pct(test)} | {again} | {result['wall']:.1f} |"
        )
    median = statistics.median(drawdowns) if drawdowns else None
    lines += ["", f"Repaired (proved): {solved} of {len(rows)}; median drawdown (test) "
              f"{_pct(median)}.", ""]  # fmt: skip
    return "\n".join(lines)


def _moved(result: dict) -> int:
    """How many of the free parameters the repair changed."""
    changes = (result.get("parameters") or {}).values()
    return sum(1 for change in changes if change["after"] != change["before"])


def _share(fraction: float | None) -> str:
    """A proved share as nnv reports it (rounded down: never 100.00 % short of a proof)."""
    from nnv.core.status import proved_share

    return "-" if fraction is None else proved_share(fraction)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _percents(drawdown: dict | None) -> str:
    if not drawdown:
        return "-"
    return ", ".join(f"{k} {_pct(v)}" for k, v in drawdown.items() if k != "weighted")


def _counts(verdicts: list[str]) -> str:
    if not verdicts:
        return "no repaired file"
    return ", ".join(f"{verdicts.count(v)} {v}" for v in sorted(set(verdicts)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["boxes", "marabou", "prop2"])
    parser.add_argument("--timeout", type=float, default=600.0, help="each run's --timeout")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--work", type=Path, help="boxes: keep the run's folder here; marabou: the folder to check"
    )
    parser.add_argument(
        "--logged", action="store_true", help="marabou: report what the log has, check nothing"
    )
    parser.add_argument(
        "--free", default=" ".join(LAST_LAYER), help="nnv run's options choosing what to free"
    )
    args = parser.parse_args()
    free = args.free.split()
    if args.experiment == "boxes":
        text = boxes_experiment(args.timeout, free, args.work)
    elif args.experiment == "marabou":
        if args.work is None:
            raise SystemExit("marabou: --work names the folder of a boxes run")
        text = marabou_experiment(args.work, check=not args.logged)
    else:
        text = prop2_experiment(args.timeout, free)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
