"""What a repair run is given: :class:`RunConfig`, the settings of ``nnv run``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from nnv.core.errors import InputError
from nnv.core.model.decision import Decision, check_decision
from nnv.core.repair.free import layer_selectors, neuron_selectors

MODES = ("cegis", "quantified")


@dataclass
class RunConfig:
    """Everything a run needs; names match ``nnv run``'s options and the TOML config's keys."""

    network: Path
    properties: list[Path]
    data: Path
    out: Path = Path("runs/latest")
    free: list[str] | None = None  # exactly this one set of free parameters
    free_sets: list[list[str]] | None = None  # exactly these sets, in this order
    # added to ``free``: every weight and bias of these 1-based layers; neurons "L.N" (their
    # incoming weights and bias). ``free`` itself takes addresses and globs (w7.*.*).
    free_layers: list[int] | None = None
    free_neurons: list[str] | None = None
    search: str = "exhaustive"
    max_free: int = 1
    layers: list[int] | None = None
    top_k: int | None = None
    target_accuracy: float | None = None  # stop searching once a repair reaches it
    heuristic: str = "samples"
    heuristic_options: dict[str, Any] = field(default_factory=dict)
    solver: str = "highs"  # synthesis
    verifier: str = "highs"  # verifies candidates inside the loop
    mode: Literal["cegis", "quantified"] = "cegis"
    threshold: int | None = None
    # what synthesis minimises, in order (objective plugins): keep, l1, linf, output
    objective: list[str] = field(default_factory=lambda: ["keep"])
    threshold_search: bool = False  # quantified mode: raise the threshold while satisfiable
    max_change: float = 10.0
    line_synthesis: bool = True  # one free parameter: the exact line analysis, not the solver
    # two free parameters that do not multiply (outside one neuron and the last layer):
    # seconds per trial for synthesis, the pair search first, then the MILP from its answer
    pair_time: float = 4.0
    timeout: float | None = None  # the whole run, seconds
    trial_timeout: float | None = None
    seed: int = 0  # the heuristic's random choices, unless its options name a seed
    executor: str = "local"
    workers: int | None = None  # trials at once; None: the executor's default
    scheduler: str | None = None  # dask: join this cluster instead of starting one
    restart: bool = False  # ignore trials an earlier run left in ``out``
    method: str = "solver"  # the repair method plugin
    method_options: dict[str, Any] = field(default_factory=dict)  # the method's own options
    # which output is the class: the largest (argmax) or the smallest (argmin, ACAS Xu's)
    decision: Decision = "argmax"

    def __post_init__(self) -> None:
        check_decision(self.decision)
        if self.mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 0 <= self.pair_time < math.inf:
            raise InputError(f"pair_time must be seconds >= 0, not {self.pair_time!r}")
        for name in ("timeout", "trial_timeout"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < math.inf:  # NaN fails too
                raise InputError(f"{name} must be a number of seconds >= 0, not {value!r}")
        if not 0 < self.max_change < math.inf:
            raise InputError(f"max_change must be a positive number, not {self.max_change!r}")
        for name, least in (("max_free", 1), ("top_k", 1), ("threshold", 0)):
            value = getattr(self, name)
            if value is not None and value < least:
                raise InputError(f"{name} must be at least {least}, not {value!r}")
        if self.target_accuracy is not None and not 0 <= self.target_accuracy <= 1:
            raise InputError(f"target_accuracy must be in [0, 1], not {self.target_accuracy!r}")
        if self.threshold_search and self.mode != "quantified":
            raise InputError(
                "threshold search is for --mode quantified; cegis already keeps the most soft "
                "constraints it can"
            )
        if self.workers is not None and self.workers < 1:
            raise InputError(f"workers must be at least 1, not {self.workers!r}")
        if not self.objective or len(set(self.objective)) != len(self.objective):
            raise InputError(f"objective must name objectives once each, not {self.objective!r}")
        self.selectors()  # a malformed layer or neuron fails now

    def non_default(self, names: Sequence[str]) -> list[str]:
        """Which of these settings differ from their defaults (what a method may refuse)."""
        defaults = {
            f.name: f.default if f.default_factory is MISSING else f.default_factory()
            for f in fields(self)
        }
        return [name for name in names if getattr(self, name) != defaults[name]]

    def selectors(self) -> list[str] | None:
        """The one free set ``free``, ``free_layers`` and ``free_neurons`` name together, as
        addresses and globs (see :func:`nnv.core.repair.free.select`); None if none do."""
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
        if one is not None and self.free_sets is not None:
            raise InputError("give either free (free_layers, free_neurons) or free_sets, not both")
        return [one] if one is not None else self.free_sets
