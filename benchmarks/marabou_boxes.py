"""Marabou's independent check of ACAS Xu property 8 on boxes of a repaired network.

Used by ``acasxu_repair.py boxes`` and ``marabou``: Marabou (the `Marabou` command that
``pip install maraboupy`` brings) checks each box piece by piece, each piece's verdict is
logged as it comes so that the check resumes, and every violation Marabou claims is replayed
through onnxruntime on the file before it counts (see :func:`marabou_confirms`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

MARABOU_SECONDS = 10  # for each piece of a box (see marabou_confirms)
MARABOU_SPLIT = 6  # each box in 2**6 pieces
MARABOU_DEPTH = 4  # an undecided piece is halved up to this many times
MARABOU_RECHECK = 120  # seconds a check when a piece is rechecked (see marabou_confirms)
# Marabou's counterexamples sit on the unsafe set's boundary, where float32 rounding decides:
# one within this of the unsafe set counts as a violation (the repair was certified with 1e-6)
REPLAY_TOLERANCE = 1e-6


def marabou_confirms(
    repaired: Path, boxes: list[dict], log: Path, workers: int = 2,
) -> list[str]:  # fmt: skip
    """Marabou's verdict on the repaired file for each box ('unavailable' without it).

    Marabou needs minutes for one whole box of these (they hold with about 1e-3 to spare, and
    several outputs are that close over the box), but seconds for most of its pieces. So each
    box is cut into ``2**MARABOU_SPLIT`` pieces (halving along the widest input), each checked
    by one Marabou process with ``MARABOU_SECONDS``, ``workers`` at once, box after box; a
    piece it cannot decide is halved again, down to ``MARABOU_DEPTH`` more halvings. A piece
    still undecided then is rechecked the same way with ``MARABOU_RECHECK`` seconds a check.
    A box is ``unsat`` when every piece is, ``sat`` when Marabou finds a violation in one,
    else ``unknown``.

    Each piece's verdict is appended to ``log`` (JSON lines) as it comes, and a piece already
    there for the same file and settings is not checked again: the check resumes."""
    marabou = Path(sys.executable).parent / "Marabou"
    found = str(marabou) if marabou.is_file() else shutil.which("Marabou")
    if found is None:
        return ["unavailable"] * len(boxes)
    first, recheck = _marabou_settings(repaired)
    cut = [_halved(box["lower"], box["upper"], MARABOU_SPLIT) for box in boxes]
    done = _logged(log, first)
    _check_pieces(found, repaired, cut, [key for key in _all_pieces(boxes) if key not in done],
                  first, log, workers)  # fmt: skip
    done, again = _logged(log, first), _logged(log, recheck)
    undecided = [key for key in _all_pieces(boxes) if done[key] == "unknown" and key not in again]
    _check_pieces(found, repaired, cut, undecided, recheck, log, workers)
    return marabou_verdicts(log, repaired, len(boxes))


def _all_pieces(boxes: list[dict]) -> list[tuple[int, int]]:
    return [(index, number) for index in range(len(boxes)) for number in range(2**MARABOU_SPLIT)]


def _check_pieces(
    marabou: str, repaired: Path, cut: list[list[tuple[list, list]]],
    pieces: list[tuple[int, int]], setting: dict, log: Path, workers: int,
) -> None:  # fmt: skip
    """Marabou on each of ``pieces`` (box, piece) under ``setting``, logged as they come."""
    lock = threading.Lock()

    def confirm(piece: tuple[int, int]) -> None:
        index, number = piece
        low, high = cut[index][number]
        start = time.perf_counter()
        notes: list[dict] = []
        with tempfile.TemporaryDirectory() as folder:
            verdict = _marabou_box(marabou, repaired, low, high, setting["timeout"],
                                   setting["depth"], folder, notes)  # fmt: skip
        line = {**setting, "box": index, "piece": number, "verdict": verdict,
                "seconds": round(time.perf_counter() - start, 2)}  # fmt: skip
        if verdict == "sat":
            line["counterexample"] = next(note for note in notes if note["violates"])
        line["spurious"] = [note for note in notes if not note["violates"]]
        with lock, log.open("a") as stream:
            stream.write(json.dumps(line) + "\n")

    with ThreadPoolExecutor(workers) as pool:  # each check is a Marabou process of its own
        list(pool.map(confirm, pieces))


def marabou_verdicts(log: Path, repaired: Path, boxes: int) -> list[str]:
    """Each box's verdict from the pieces in ``log`` ('unchecked' while some piece is not): a
    piece's own, or its recheck's where the first check left it undecided."""
    first, recheck = _marabou_settings(repaired)
    done, again = _logged(log, first), _logged(log, recheck)
    verdicts = []
    for index in range(boxes):
        found = [done.get((index, number)) for number in range(2**MARABOU_SPLIT)]
        found = [again.get((index, n), v) if v == "unknown" else v for n, v in enumerate(found)]
        verdicts.append("unchecked" if None in found else _combined(found))  # type: ignore[arg-type]
    return verdicts


def marabou_figures(log: Path, repaired: Path) -> tuple[float, int, int]:
    """What the log holds for ``repaired``: the seconds of Marabou processes, how many
    pieces were rechecked, and how many violations Marabou claimed that did not replay."""
    first, recheck = _marabou_settings(repaired)
    lines = _log_lines(log, first) + _log_lines(log, recheck)
    seconds = sum(line["seconds"] for line in lines)
    spurious = sum(len(line.get("spurious", [])) for line in lines)
    return seconds, len(_log_lines(log, recheck)), spurious


def _marabou_settings(repaired: Path) -> tuple[dict, dict]:
    """The log's keys of the first check and of the recheck of ``repaired``."""
    digest = hashlib.sha256(repaired.read_bytes()).hexdigest()
    first = {"file": digest, "timeout": MARABOU_SECONDS, "split": MARABOU_SPLIT,
             "depth": MARABOU_DEPTH}  # fmt: skip
    return first, {**first, "timeout": MARABOU_RECHECK}


def _logged(log: Path, setting: dict) -> dict[tuple[int, int], str]:
    """The pieces ``log`` has verdicts for under ``setting``, the latest of each; a ``sat``
    without a replayed counterexample (from before the replay) is not a verdict."""
    return {
        (line["box"], line["piece"]): line["verdict"]
        for line in _log_lines(log, setting)
        if line["verdict"] != "sat" or "counterexample" in line
    }


def _log_lines(log: Path, setting: dict) -> list[dict]:
    """The lines of ``log`` written under ``setting`` (this file, timeout, split, depth)."""
    if not log.is_file():
        return []
    lines = [json.loads(text) for text in log.read_text().splitlines() if text.strip()]
    return [line for line in lines if all(line.get(k) == v for k, v in setting.items())]


def _halved(lower: list[float], upper: list[float], times: int) -> list[tuple[list, list]]:
    """The box cut into ``2**times`` pieces, each time halving every piece along its widest
    input."""
    pieces = [(list(lower), list(upper))]
    for _ in range(times):
        cut = []
        for low, high in pieces:
            widest = int(np.argmax(np.subtract(high, low)))
            middle = (low[widest] + high[widest]) / 2
            cut += [(low, [*high[:widest], middle, *high[widest + 1 :]]),
                    ([*low[:widest], middle, *low[widest + 1 :]], high)]  # fmt: skip
        pieces = cut
    return pieces


def _combined(verdicts: list[str]) -> str:
    """A box's verdict from its pieces': any violation, else any doubt, else unsat."""
    for answer in ("sat", "unknown", "error"):
        if answer in verdicts:
            return answer
    return "unsat"


def _marabou_box(
    marabou: str, repaired: Path, lower: list[float], upper: list[float], timeout: float,
    depth: int, folder: str, notes: list[dict],
) -> str:  # fmt: skip
    """Marabou's verdict on one piece, halving it (``depth`` times at most) while Marabou
    cannot decide it or claims a violation that does not replay; each claimed violation,
    replayed, is added to ``notes``."""
    path, summary = Path(folder) / "box.vnnlib", Path(folder) / "summary.txt"
    path.write_text(box_vnnlib(lower, upper))
    summary.unlink(missing_ok=True)
    try:  # Marabou does not always honour its --timeout (seen past 15 min on a 10 s piece)
        subprocess.run(
            [marabou, str(repaired), str(path), "--timeout", f"{timeout:g}", "--verbosity", "0",
             "--summary-file", str(summary)],
            capture_output=True, text=True, timeout=2 * timeout + 5,
        )  # fmt: skip
        verdict = summary.read_text().split()[0].lower() if summary.is_file() else "error"
    except subprocess.TimeoutExpired:  # killed by subprocess.run
        verdict = "timeout"
    if verdict == "sat":
        found = _replayed(repaired, path, lower, upper, timeout)
        notes.append(found)
        if found["violates"]:
            return "sat"
        verdict = "timeout"
    if verdict != "timeout" or depth == 0:
        return "unknown" if verdict == "timeout" else verdict
    return _combined([
        _marabou_box(marabou, repaired, low, high, timeout, depth - 1, folder, notes)
        for low, high in _halved(lower, upper, 1)
    ])  # fmt: skip


# Marabou's counterexample in full precision: its command line prints six digits
_MARABOU_INPUT = """
import json, sys
from maraboupy import Marabou
network = Marabou.read_onnx(sys.argv[1])
options = Marabou.createOptions(timeoutInSeconds=int(float(sys.argv[3])) + 1, verbosity=0)
code, values, _ = network.solve(propertyFilename=sys.argv[2], options=options, verbose=False)
found = [values[int(v)] for v in network.inputVars[0].flatten()] if code == "sat" else None
print(json.dumps({"verdict": code, "input": found}))
"""


def _replayed(
    repaired: Path, vnnlib: Path, lower: list[float], upper: list[float], timeout: float
) -> dict:
    """Marabou's counterexample of a piece, run through onnxruntime on the written file:
    ``violates`` only when its outputs meet property 8's unsafe condition there, within
    ``REPLAY_TOLERANCE``."""
    import onnxruntime

    try:
        done = subprocess.run(
            [sys.executable, "-c", _MARABOU_INPUT, str(repaired), str(vnnlib), f"{timeout:g}"],
            capture_output=True, text=True, timeout=2 * timeout + 60,
        )  # fmt: skip
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, IndexError, json.JSONDecodeError):
        return {"violates": False, "input": None}
    if answer["input"] is None:
        return {"violates": False, "input": None, "marabou_again": answer["verdict"]}
    point = np.clip(np.asarray(answer["input"]), lower, upper).astype(np.float32)
    point = np.where(point < lower, np.nextafter(point, np.float32(np.inf)), point)
    point = np.where(point > upper, np.nextafter(point, np.float32(-np.inf)), point)
    session = onnxruntime.InferenceSession(str(repaired), providers=["CPUExecutionProvider"])
    given = session.get_inputs()[0]
    shape = [size if isinstance(size, int) else 1 for size in given.shape]
    y = session.run(None, {given.name: point.reshape(shape)})[0].reshape(-1)
    unsafe = min(y[2:]) <= min(y[0], y[1]) + REPLAY_TOLERANCE
    return {"violates": bool(unsafe), "input": point.tolist(), "outputs": y.tolist()}


def box_vnnlib(lower: list[float], upper: list[float]) -> str:
    """Property 8 on one box, its output condition as prop_8.vnnlib states it (unsafe: WR, SL
    or SR at most both COC and WL)."""
    lines = [f"(declare-const X_{i} Real)" for i in range(5)]
    lines += [f"(declare-const Y_{i} Real)" for i in range(5)]
    for i, (low, high) in enumerate(zip(lower, upper, strict=True)):
        lines += [f"(assert (>= X_{i} {low!r}))", f"(assert (<= X_{i} {high!r}))"]
    lines.append("(assert (or")
    for unsafe in (2, 3, 4):
        others = " ".join(f"(<= Y_{unsafe} Y_{j})" for j in (0, 1))
        lines.append(f"    (and {others})")
    lines.append("))")
    return "\n".join(lines) + "\n"
