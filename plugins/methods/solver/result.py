"""The solver method's result.json: what the search found and the settings it ran with."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nnv.core.model.network import Network
from nnv.core.plugin.heuristic import Heuristic
from nnv.core.repair.loop import Repairer
from nnv.core.repair.metrics import accuracy_report
from nnv.core.repair.trial import TrialResult
from nnv.core.run.inputs import Inputs
from nnv.core.run.regions import regions_result
from nnv.core.run.results import (
    UNVERIFIED_FILE,
    ResultDetails,
    Row,
    RunResult,
    SummaryPlace,
    finite,
    placed,
)
from nnv.core.run.trials import TrialTable
from nnv.core.status import RunStatus, proved_share
from nnv.plugins.methods.solver.options import SolverOptions


@dataclass
class SearchDetails(ResultDetails):
    """The solver method's own keys of result.json (see docs/repair.md for each)."""

    free: list[str] | None = field(metadata=placed("certified_by"))
    parameters: dict[str, dict[str, float]] | None
    kept: int | None = field(metadata=placed("accuracy_after"))
    soft_total: int
    trials: int = field(metadata=placed("seconds"))
    resumed: int
    demoted: list[dict[str, Any]]
    cut_short: bool
    trial_counts: dict[str, int]
    solver: str
    heuristic: str = field(metadata=placed("verifier"))
    heuristic_options: dict[str, Any]
    mode: str
    search: str
    search_options: dict[str, Any]
    threshold: int | None
    threshold_search: bool
    objective: list[str]
    max_change: float
    # the box the chosen trial's synthesis ended with: max_change, what the MILP's box grew
    # to, or "unbounded" (one parameter's exact line); None when no trial repaired
    max_change_used: float | str | None
    # the chosen trial's synthesis margin at the end: scaled to the outputs, relaxed or
    # tightened by the loop (nnv.core.repair.margins); None when no trial repaired
    synthesis_margin: float | None
    margins: str  # absolute, or scaled to the outputs (--margins)
    line_synthesis: bool
    pair_time: float
    trial_timeout: float | None = field(metadata=placed("timeout"))
    executor: str = field(metadata=placed("seed"))
    workers: int | None
    # partially_proved: the undecided candidate proved on the largest share of the regions
    # (written as unverified.onnx, certified by nothing)
    partially_proved: dict[str, Any] | None = field(default=None, metadata=placed("status"))

    def summary(self, place: SummaryPlace) -> list[Row]:
        if place == "outcome":
            return _parameter_rows(self.parameters or {})
        if place == "accuracy":
            kept = f"{self.kept} of {self.soft_total}"
            return [] if self.kept is None else [("soft constraints kept", kept)]
        counts = ", ".join(f"{n} {status}" for status, n in self.trial_counts.items())
        rows = [("trials", f"{self.trials} ({counts})" if counts else "0")]
        if self.resumed:
            rows.append(("resumed", f"{self.resumed} trials taken from an earlier run"))
        if self.demoted:
            failed = f"{len(self.demoted)} resumed repairs failed re-certification"
            rows.append(("demoted", f"{failed} (see trials.csv)"))
        if self.cut_short:
            rows.append(("search", "cut short by the run's timeout (rerun to go on)"))
        rows.append(("executor", f"{self.executor}, {self.workers} workers"))
        return rows


SHOWN_PARAMETERS = 12  # a larger free set lists only the parameters that moved, this many


def _parameter_rows(parameters: dict[str, dict[str, float]]) -> list[Row]:
    """One row per free parameter; for a large set, a count and the ones that moved."""
    rows: list[Row] = []
    shown = parameters
    if len(parameters) > SHOWN_PARAMETERS:
        moved = {a: c for a, c in parameters.items() if c["after"] != c["before"]}
        rows.append(("free", f"{len(parameters)} parameters, {len(moved)} changed"))
        shown = dict(list(moved.items())[:SHOWN_PARAMETERS])
        if len(moved) > SHOWN_PARAMETERS:
            rows.append(("", f"(the first {SHOWN_PARAMETERS} changed are listed)"))
    rows += [
        (f"free {address}", f"{change['before']:.6g} -> {change['after']:.6g}")
        for address, change in shown.items()
    ]
    return rows


def search_result(
    trials: TrialTable,
    options: SolverOptions,
    plan: tuple[str, dict[str, Any]],
    inputs: Inputs,
    built: tuple[Heuristic, Repairer],
    chosen: TrialResult | None,
    repaired: Network | None,
    seconds: float,
) -> RunResult:
    """result.json of a search that chose ``chosen`` (None: no repair); ``plan`` is the
    search's name and options, ``built`` the run's heuristic and repairer."""
    heuristic, repairer = built
    network = inputs.network
    search, search_options = plan
    parameters = (
        None
        if chosen is None
        else {a: {"before": network.parameter(a), "after": v} for a, v in chosen.values.items()}
    )
    details = SearchDetails(
        free=None if chosen is None else list(chosen.free),
        parameters=parameters,
        kept=None if chosen is None else chosen.kept,
        soft_total=repairer.soft.count,
        trials=len(trials.done),
        resumed=trials.resumed,
        demoted=trials.demoted,
        cut_short=bool(trials.cut_short or trials.skipped),
        trial_counts=dict(Counter(r.status for r in trials.done)),
        solver=options.solver,
        heuristic=options.heuristic,
        heuristic_options=dict(heuristic.options),
        mode=options.mode,
        search=search,
        search_options=search_options,
        threshold=options.threshold,
        threshold_search=options.threshold_search,
        objective=list(options.objective),
        max_change=options.max_change,
        max_change_used=_max_change_used(chosen),
        synthesis_margin=None if chosen is None else chosen.synthesis_margin,
        margins=options.margins,
        line_synthesis=options.line_synthesis,
        pair_time=options.pair_time,
        trial_timeout=options.trial_timeout,
        executor=options.executor,
        workers=trials.executor.workers,
        partially_proved=None if chosen is not None else _partial_details(trials),
    )
    return RunResult.of(
        trials.config,
        repaired,
        status=_status(trials, chosen),
        message=_message(trials, chosen),
        certified_by=None if chosen is None else chosen.certified_by,
        accuracy_before=finite(repairer.accuracy_before),
        accuracy_after=(
            None
            if repaired is None
            else finite(accuracy_report(repaired, inputs.data, trials.config.decision))
        ),
        seconds=round(seconds, 3),
        details=details,
        regions=regions_result(
            inputs.partition,
            repaired,
            trials.registry,
            trials.config.verifier,
            trials.config.verifier_options,
            trials.deadline,
            trials.executor.workers or 1,
        ),
    )


def _max_change_used(chosen: TrialResult | None) -> float | str | None:
    if chosen is None or chosen.max_change_used is None:
        return None
    return "unbounded" if math.isinf(chosen.max_change_used) else chosen.max_change_used


def _status(trials: TrialTable, chosen: TrialResult | None) -> RunStatus:
    """repaired; else timeout if time ran out anywhere; error if every trial failed so."""
    statuses = [r.status for r in trials.done]
    if chosen is not None:
        return "repaired"
    if partial(trials) is not None:
        return "partially_proved"
    if trials.out_of_time() or "timeout" in statuses:
        return "timeout"
    if statuses and all(s == "error" for s in statuses):
        return "error"
    return "not_repaired"


def partial(trials: TrialTable) -> TrialResult | None:
    """The timed-out trial whose undecided candidate was proved on the largest share."""
    candidates = [r for r in trials.done if r.proved_fraction is not None and r.values]
    return max(candidates, key=lambda r: r.proved_fraction or 0.0) if candidates else None


def _named(free: tuple[str, ...]) -> str:
    """A free set as a message names it: its addresses, or how many when there are many."""
    return ", ".join(free) if len(free) <= 6 else f"{len(free)} free parameters"


def _partial_details(trials: TrialTable) -> dict[str, Any] | None:
    found = partial(trials)
    if found is None:
        return None
    return {
        "free": list(found.free),
        "values": found.values,
        "proved_fraction": found.proved_fraction,
        "file": UNVERIFIED_FILE,
    }


def _message(trials: TrialTable, chosen: TrialResult | None) -> str:
    notes = [chosen.message] if chosen is not None and chosen.message else []
    found = partial(trials) if chosen is None else None
    if found is not None:
        notes.append(
            f"not proved: time ran out with {_named(found.free)} proved safe on "
            f"{proved_share(found.proved_fraction or 0.0)} of the regions' volume "
            f"({UNVERIFIED_FILE}, not certified)"
        )
    if chosen is None:
        if len(trials.done) == 1 and not trials.skipped and not trials.cut_short:
            notes.append(trials.done[0].message)
        elif not trials.done and trials.out_of_time():
            notes.append("the run's timeout passed before any trial started")
        else:
            notes.append(f"none of {len(trials.done)} trials repaired the network")
    if trials.cut_short or trials.skipped:
        notes.append(
            f"the run's timeout ({trials.config.timeout:g} s) cut the search short: "
            f"{trials.cut_short} trials stopped, {trials.skipped} not started"
        )
    if trials.demoted:
        notes.append(f"{len(trials.demoted)} resumed repairs failed re-certification")
    return "; ".join(note for note in notes if note)
