"""The solver method's options: what to free (or how to search for it), the heuristic, the
solvers, the repair loop's settings and where trials run.

Each field is a flag of ``nnv run`` and a key of its config file (see
:mod:`nnv.core.plugin.options`); those marked ``fingerprint`` are what a trial's result
depends on, so a resumed run takes only trials made with the same ones (run.json).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from nnv.core import InputError
from nnv.core.plugin.options import Options, option
from nnv.core.repair.free import layer_selectors, neuron_selectors
from nnv.core.repair.margins import MarginScale


def free_set(key: str, value: Any) -> list[str]:
    """``"w1.1.1,b2.2"`` or ``["w1.1.1", "b2.2"]``."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise InputError(f"{key} must be a string or a list of strings, not {value!r}")
    names = [item.strip() for item in items if item.strip()]
    if not names:
        raise InputError(f"{key}: no parameter addresses given")
    return names


def free_sets(key: str, value: Any) -> list[list[str]]:
    """``"w1.1.1;w1.2.1,b2.2"``, or a list whose entries are sets as :func:`free_set` takes."""
    entries = value.split(";") if isinstance(value, str) else value
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{key} must be sets separated by ';' or a list of sets")
    return [free_set(key, entry) for entry in entries]


def layer_list(key: str, value: Any) -> list[int]:
    """``"1,2"``, ``[1, 2]`` or ``2``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, str):
        try:
            return [int(item) for item in value.split(",") if item.strip()]
        except ValueError:
            raise InputError(f"{key} must be layer numbers like 1,2, not {value!r}") from None
    if not isinstance(value, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    ):
        raise InputError(f"{key} must be a list of layer numbers, not {value!r}")
    return value


def names(key: str, value: Any) -> list[str]:
    """Plugin names in order: ``"keep,l1"`` or ``["keep", "l1"]``."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise InputError(f"{key} must be a string or a list of strings, not {value!r}")
    chosen = [item.strip() for item in items if item.strip()]
    if not chosen:
        raise InputError(f"{key}: no names given")
    return chosen


@dataclass(frozen=True)
class SolverOptions(Options):
    """The options of ``--method solver`` (the default), as ``nnv run`` takes them."""

    free: list[str] | None = option(
        None,
        parse=free_set,
        group="free",
        help="Exactly this set of free parameters: w1.1.1,b2.2; globs: 'w7.*.*'.",
    )
    # added to ``free`` (one set together): every weight and bias of these 1-based layers;
    # neurons "L.N" (their incoming weights and bias)
    free_layers: list[int] | None = option(
        None,
        parse=layer_list,
        flag="--free-layer",
        group="free",
        help="Free every weight and bias of these layers: 7 (or 6,7); adds to --free.",
    )
    free_neurons: list[str] | None = option(
        None,
        parse=free_set,
        flag="--free-neuron",
        group="free",
        help="Free neurons' incoming weights and biases: 6.30 (or 6.30,7.2); adds to --free.",
    )
    free_sets: list[list[str]] | None = option(
        None,
        parse=free_sets,
        group="free",
        help='Exactly these sets, ";" between: "w1.1.1;b2.1,b2.2".',
    )
    search: str = option("exhaustive", help="Search strategy: exhaustive (default), greedy.")
    search_options: dict[str, Any] = option(
        default_factory=dict,
        cli=False,
        kind="search",
        help="The search strategy's own options (-o search.KEY=VALUE).",
    )
    max_free: int = option(1, minimum=1, help="Largest free set the search tries (default 1).")
    layers: list[int] | None = option(
        None, parse=layer_list, help="Search only these layers' parameters: 1,2."
    )
    top_k: int | None = option(None, minimum=1, help="greedy: sets kept per level (default 5).")
    target_accuracy: float | None = option(
        None, help="Stop the search once a repair reaches this weighted accuracy (0-1)."
    )
    heuristic: str = option(
        "samples",
        fingerprint=True,
        help="Similarity heuristic: samples (default), grid, voronoi.",
    )
    heuristic_options: dict[str, Any] = option(
        default_factory=dict,
        flag="--heuristic-option",
        kind="heuristic",
        fingerprint=True,
        help="Heuristic option key=value (repeatable), e.g. count=500.",
    )
    solver: str = option("highs", fingerprint=True, help="Synthesis solver (default highs).")
    solver_options: dict[str, Any] = option(
        default_factory=dict,
        flag="--solver-option",
        kind="solver",
        fingerprint=True,
        help="Synthesis solver option key=value (repeatable), e.g. threads=1.",
    )
    mode: Literal["cegis", "quantified"] = option(
        "cegis", fingerprint=True, help="cegis (default) or quantified."
    )
    threshold: int | None = option(
        None, minimum=0, fingerprint=True, help="Keep at least this many soft constraints."
    )
    threshold_search: bool = option(
        False,
        flag="--threshold-search",
        fingerprint=True,
        help="quantified: raise the threshold while satisfiable (the paper's skip).",
    )
    objective: list[str] = option(
        default_factory=lambda: ["keep"],
        parse=names,
        fingerprint=True,
        help="What synthesis minimises, in order (objective plugins): keep (default), l1, "
        "linf, output; e.g. keep,l1.",
    )
    max_change: float = option(
        10.0,
        fingerprint=True,
        help="Bound M on each free parameter's effect (default 10): a bias moves at most M, a "
        "weight at most M / max(1, s), s the largest magnitude of the activation it reads.",
    )
    margins: MarginScale = option(
        "absolute",
        fingerprint=True,
        help="Synthesis and verify margins: absolute (1e-3 and 1e-4, default) or outputs "
        "(times the order of magnitude of the outputs' spread); either adapts in a trial.",
    )
    line_synthesis: bool = option(
        True,
        flag="--line-synthesis/--no-line-synthesis",
        fingerprint=True,
        help=(
            "Exact line analysis for one free parameter and the pair search for two "
            "(default), or the synthesis solver only."
        ),
    )
    pair_time: float = option(
        4.0,
        minimum=0,
        fingerprint=True,
        help="Two free parameters outside one neuron and the last layer: seconds per trial "
        "for synthesis, the pair search, then the MILP from its answer (default 4).",
    )
    trial_timeout: float | None = option(
        None, minimum=0, fingerprint=True, help="Seconds for each trial."
    )
    executor: str = option("local", help="Where trials run: local (default) or dask.")
    executor_options: dict[str, Any] = option(
        default_factory=dict,
        cli=False,
        kind="executor",
        help="The executor's own options (-o executor.KEY=VALUE).",
    )
    workers: int | None = option(None, minimum=1, help="Trials at once (default: one per core).")
    scheduler: str | None = option(
        None, help="dask: join the cluster at this address (tcp://host:8786)."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        # bounds the flags leave to this check (an open one, and a fraction)
        if not 0 < self.max_change < math.inf:
            raise InputError(f"max_change must be a positive number, not {self.max_change!r}")
        if self.target_accuracy is not None and not 0 <= self.target_accuracy <= 1:
            raise InputError(f"target_accuracy must be in [0, 1], not {self.target_accuracy!r}")
        if self.threshold_search and self.mode != "quantified":
            raise InputError(
                "threshold search is for --mode quantified; cegis already keeps the most soft "
                "constraints it can"
            )
        if self.free_sets is not None and self.selectors() is not None:
            raise InputError(
                "give either free or free_sets, not both (free_layers and free_neurons are "
                "part of free)"
            )
        if len(set(self.objective)) != len(self.objective):
            raise InputError(f"objective must name objectives once each, not {self.objective!r}")
        if not math.isfinite(self.pair_time):
            raise InputError(f"pair_time must be a number of seconds, not {self.pair_time!r}")

    def selectors(self) -> list[str] | None:
        """The one free set ``free``, ``free_layers`` and ``free_neurons`` name together, as
        addresses and globs (see :func:`nnv.core.repair.free.select`); None if none do. A
        malformed neuron is an ``InputError``."""
        if self.free is None and self.free_layers is None and self.free_neurons is None:
            return None
        chosen = list(self.free or [])
        for layer in self.free_layers or []:
            chosen += layer_selectors(layer)
        for neuron in self.free_neurons or []:
            chosen += neuron_selectors(neuron)
        return chosen

    def given_sets(self) -> list[list[str]] | None:
        """The free sets named outright (``free`` with ``free_layers`` and ``free_neurons``,
        or ``free_sets``), as addresses and globs; None to search."""
        one = self.selectors()
        return [one] if one is not None else self.free_sets
