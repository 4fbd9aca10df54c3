"""A run's trials: run on an executor, recorded in trials.csv as they end, resumed.

When ``out`` already holds a ``run.json`` equal to this run's and its ``trials.csv``, the
trials recorded there are not run again but taken as they are (repaired rows are certified
again before they are reported: see the solver method), so the same command after Ctrl-C, a
crash or a killed worker goes on where it stopped. The search options are not part of
``run.json``: a larger search resumes from a smaller one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args

from nnv.core.errors import InputError
from nnv.core.model.network import Network
from nnv.core.plugin.executor import Executor, TrialJob, TrialTask, not_started
from nnv.core.plugin.registry import Registry
from nnv.core.repair.trial import FreeSet, TrialResult
from nnv.core.run.config import RunConfig
from nnv.core.run.results import RUN_FILE, STALE_FILES, TRIALS_FILE
from nnv.core.runtime.files import write_text_atomic
from nnv.core.status import TrialStatus

TRIAL_COLUMNS = (
    "free", "status", "accuracy", "kept", "soft_total", "seconds", "rounds", "certified_by",
    "values", "message", "cut_short", "max_change_used", "proved_fraction", "synthesis_margin",
)  # fmt: skip


TRIAL_STATUSES = get_args(TrialStatus)


class TrialTable:
    """The ``evaluate`` a search calls: a batch of trials on the executor, each recorded in
    trials.csv as it ends; trials an earlier run of the same command recorded are reused.

    Nothing is written to the results folder before the first trial of this run ends, so a run
    that fails before that (bad input, a crash) leaves an earlier run's folder as it was.
    """

    def __init__(
        self,
        config: RunConfig,
        job: TrialJob,
        executor: Executor,
        deadline: float | None,
        registry: Registry,
        on_trial: Callable[[TrialResult], None] | None,
        on_planned: Callable[[int | None], None] | None,
        trial_timeout: float | None = None,
    ) -> None:
        self.config = config
        self.trial_timeout = trial_timeout  # each trial's own limit (None: the run's only)
        self.job = job
        self.executor = executor
        self.deadline = deadline
        # the same instant on the wall clock, which trials in other processes can read
        self.deadline_epoch = (
            None if deadline is None else time.time() + deadline - time.monotonic()
        )
        self.registry = registry
        self.on_trial = on_trial
        self.on_planned = on_planned
        self.planned: int | None = None
        self.queued = 0
        self.skipped = 0  # proposed after the run's deadline had passed, never started
        self.resumed = 0
        self.fingerprint: dict[str, Any] = {}
        self.written = False  # whether this run has written run.json yet
        self.earlier: dict[frozenset[str], TrialResult] = {}
        # this search's trials in the order proposed, resumed ones included (so ``best`` breaks
        # ties the same way however the executor ordered them)
        self.done: list[TrialResult] = []
        self.recorded: list[TrialResult] = []  # trials.csv: earlier rows, then trials as they end
        self.demoted: list[dict[str, Any]] = []  # resumed repairs that failed re-certification

    def begin(self, planned: int | None, fingerprint: dict[str, Any], network: Network) -> None:
        """Announce the plan; take up an earlier run's trials if it was this same run."""
        self.planned = planned
        if self.on_planned is not None:
            self.on_planned(planned)
        self.fingerprint = fingerprint
        if not self.config.restart:
            self.earlier = _earlier_trials(self.config.out, fingerprint, network)
        self.recorded = list(self.earlier.values())

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    @property
    def cut_short(self) -> int:
        """Trials of this search that the run's timeout stopped while they ran."""
        return sum(1 for result in self.done if result.cut_short)

    def is_resumed(self, result: TrialResult) -> bool:
        return any(result is earlier for earlier in self.earlier.values())

    def evaluate(self, batch: Sequence[FreeSet]) -> list[TrialResult]:
        self._queue(len(batch))
        results: list[TrialResult | None] = [None] * len(batch)
        tasks: list[TrialTask] = []
        positions: list[int] = []
        for position, names in enumerate(batch):
            earlier = self.earlier.get(frozenset(names))
            if earlier is not None:
                results[position] = earlier
                self.resumed += 1
                self._announce(earlier)
            elif self.out_of_time():
                results[position] = not_started(TrialTask(tuple(names)))
            else:
                tasks.append(TrialTask(tuple(names), self.trial_timeout, self.deadline_epoch))
                positions.append(position)
                self.registry.hook.nnv_trial_started(free=names)
        for index, result in self.executor.map(self.job, tasks):
            results[positions[index]] = result
            if not result.started:
                continue
            self._record(result)
            self.registry.hook.nnv_trial_finished(result=result)
            self._announce(result)
        started = [r for r in results if r is not None and r.started]
        self.skipped += sum(1 for r in results if r is not None and not r.started)
        self.done.extend(started)  # in the order proposed, whatever order they ended in
        return started

    def replace(self, old: TrialResult, new: TrialResult) -> None:
        """Put ``new`` in ``old``'s place (a resumed row checked again) and rewrite the file."""
        self.done = [new if r is old else r for r in self.done]
        self.recorded = [new if r is old else r for r in self.recorded]
        self.earlier = {k: new if r is old else r for k, r in self.earlier.items()}
        self._write()

    def finish(self) -> None:
        """Make sure the folder's run.json and trials.csv are this run's, even if no trial ran."""
        if not self.written:
            self._write()

    def _record(self, result: TrialResult) -> None:
        self.recorded.append(result)
        self._write()

    def _write(self) -> None:
        """trials.csv, and run.json the first time: from then on the folder is this run's."""
        out = self.config.out
        if not self.written:
            if not self.earlier:  # another run's files (or none): its results are stale now
                for name in STALE_FILES:
                    (out / name).unlink(missing_ok=True)
            write_text_atomic(out / RUN_FILE, json.dumps(self.fingerprint, indent=2) + "\n")
            self.written = True
        write_text_atomic(out / TRIALS_FILE, trials_csv(self.recorded))

    def _queue(self, count: int) -> None:
        self.queued += count
        known = max(self.planned or 0, self.queued)
        if known != self.planned and self.on_planned is not None:
            self.on_planned(known)
        self.planned = known

    def _announce(self, result: TrialResult) -> None:
        if self.on_trial is not None:
            self.on_trial(result)


def _earlier_trials(
    out: Path, fingerprint: dict[str, Any], network: Network
) -> dict[frozenset[str], TrialResult]:
    """Trials recorded in ``out`` by a run with this fingerprint; none if it was another run
    (whose trials.csv this run then replaces). A row that does not read back as a well-formed
    trial of this network is dropped, so its trial runs again; a row the run's timeout cut
    short runs again too. Repaired rows are not trusted: see :func:`_confirmed_best`."""
    try:
        same = json.loads((out / RUN_FILE).read_text()) == fingerprint
        rows = list(csv.DictReader(io.StringIO((out / TRIALS_FILE).read_text())))
    except (OSError, ValueError):
        return {}
    if not same:
        return {}
    earlier: dict[frozenset[str], TrialResult] = {}
    for row in rows:
        try:
            result = _row_result(row, network)
        except (KeyError, ValueError, TypeError, AttributeError, InputError):
            continue
        if not result.cut_short:
            earlier[frozenset(result.free)] = result
    return earlier


def _row_result(row: dict[str, str], network: Network) -> TrialResult:
    """A trials.csv row back as the result it recorded; ValueError when it is malformed."""
    free = tuple(row["free"].split(","))
    for name in free:
        network.resolve(name)
    status = row["status"]
    if status not in TRIAL_STATUSES:
        raise ValueError(f"unknown status {status!r}")
    values = {str(k): float(v) for k, v in json.loads(row["values"]).items()}
    if not all(math.isfinite(v) for v in values.values()):
        raise ValueError("a value is not finite")
    if status == "repaired" and set(values) != set(free):
        raise ValueError("a repaired row's values do not match its free parameters")
    return TrialResult(
        free=free,
        status=status,  # type: ignore[arg-type]
        seconds=float(row["seconds"]),
        accuracy=float(row["accuracy"]) if row["accuracy"] else None,
        kept=int(row["kept"]) if row["kept"] else None,
        soft_total=int(row["soft_total"]),
        values=values,
        certified_by=row["certified_by"] or None,
        rounds=int(row["rounds"]),
        message=row["message"],
        cut_short=row.get("cut_short") == "1",
        max_change_used=float(row["max_change_used"]) if row["max_change_used"] else None,
        proved_fraction=_fraction(row.get("proved_fraction", "")),
        synthesis_margin=float(row["synthesis_margin"]) if row.get("synthesis_margin") else None,
    )


def trials_csv(results: Sequence[TrialResult]) -> str:
    """``trials.csv``: one row per trial, in the order run."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRIAL_COLUMNS)
    for r in results:
        writer.writerow([
            ",".join(r.free), r.status, _blank(r.accuracy), _blank(r.kept), r.soft_total,
            f"{r.seconds:.3f}", r.rounds, r.certified_by or "", json.dumps(r.values), r.message,
            "1" if r.cut_short else "", _blank(r.max_change_used), _blank(r.proved_fraction),
            _blank(r.synthesis_margin),
        ])  # fmt: skip
    return buffer.getvalue()


def _fraction(text: str) -> float | None:
    """A proved share read back: blank, or a number in [0, 1] (else the row is malformed)."""
    if not text:
        return None
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"proved_fraction {value} is not a share")
    return value


def _blank(value: float | int | None) -> str:
    return "" if value is None else str(value)
