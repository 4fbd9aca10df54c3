"""What a repair run is given: :class:`RunConfig`, the settings every method shares, and the
chosen method's own options (the fields of its ``Options`` dataclass) in ``method_options``.

``nnv run``'s flags and its config file's keys are the fields of RunConfig and of every
installed method's Options (:func:`settings_catalogue`); :func:`assemble` turns settings given
by key into a RunConfig, refusing one that belongs to a method other than the chosen one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import Field, dataclass, replace
from pathlib import Path
from typing import Any

from nnv.core.errors import InputError
from nnv.core.model.decision import DEFAULT_DECISION, Decision
from nnv.core.plugin.options import (
    NoOptions,
    Options,
    build,
    check_kind,
    option,
    option_fields,
    options_class,
)
from nnv.core.plugin.registry import Registry

DEFAULT_METHOD = "solver"
# the verifier when none is named and it is installed (else the synthesis solver verifies)
DEFAULT_VERIFIER = "highs"


@dataclass(frozen=True)
class RunConfig(Options):
    """Everything a run needs besides its method's own options; the names are those of
    ``nnv run``'s flags and of its config file's keys."""

    network: Path = option(help="Network file (.onnx, .json, .nnet).")
    properties: list[Path] = option(
        flag="--property", help="Property file (.vnnlib); repeat to repair several."
    )
    data: Path = option(help=".npz (X_train, y_train, X_test, ...) or .csv data.")
    method: str = option(
        DEFAULT_METHOD,
        help="Repair method: solver (default, the paper's) or retrain (baseline).",
    )
    # the method's Options (None: its defaults); given as a table of key=value pairs
    method_options: Any = option(
        None, flag="--method-option", kind="method", help="A method option key=value (repeatable)."
    )
    verifier: str | None = option(
        None,
        fingerprint=True,
        help="Solver that verifies candidates in the loop (default highs when installed, "
        "else the synthesis solver).",
    )
    verifier_options: dict[str, Any] = option(
        default_factory=dict,
        cli=False,
        kind="verifier",
        fingerprint=True,
        help="The verifier's options (-o verifier.KEY=VALUE).",
    )
    # every method decides classes by it: accuracy, the heuristics' labels, retrain's aims
    decision: Decision = option(
        DEFAULT_DECISION,
        fingerprint=True,
        help="The class is the largest output (argmax, default) or the smallest (argmin, "
        "ACAS Xu's advisories).",
    )
    partition: float | None = option(
        None,
        minimum=0,
        fingerprint=True,
        help="Cut each property's region into boxes of this side and repair the violating "
        "ones (found by sampling) as properties of their own.",
    )
    repair_boxes: int | None = option(
        None,
        minimum=1,
        fingerprint=True,
        help="With --partition: repair this many violating boxes (seeded order) and hold the "
        "rest out to measure generalisation (default: repair them all).",
    )
    partition_samples: int = option(
        50,
        minimum=1,
        fingerprint=True,
        help="With --partition: points sampled in each box to find the violating ones.",
    )
    timeout: float | None = option(None, minimum=0, help="Seconds for the whole run.")
    seed: int = option(0, help="Seed of the heuristic's random choices (default 0).")
    out: Path = option(Path("runs/latest"), help="Results folder (default runs/latest).")
    restart: bool = option(
        False,
        flag="--restart",
        help="Run every trial again, ignoring those OUT holds from this run.",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.partition is not None and not self.partition > 0:
            raise InputError(f"partition must be a positive side, not {self.partition!r}")
        if self.repair_boxes is not None and self.partition is None:
            raise InputError("repair_boxes needs partition (the side of the boxes)")

    def verifier_name(self, installed: Collection[str]) -> str:
        """The solver that verifies candidates: ``verifier`` when named, else highs when it is
        among the ``installed`` solvers, else the method's synthesis solver (so that a run
        without the highs plugin still works with ``--solver z3``)."""
        if self.verifier is not None:
            return self.verifier
        if DEFAULT_VERIFIER in installed:
            return DEFAULT_VERIFIER
        return str(getattr(self.method_options, "solver", DEFAULT_VERIFIER))


@dataclass(frozen=True)
class Setting:
    """One key of ``nnv run``'s settings (a flag, a config file's key): a field of RunConfig
    (``methods`` empty) or of the Options of the ``methods`` named."""

    name: str
    field: Field[Any]
    hint: Any  # the type a given value must have
    methods: tuple[str, ...]


def settings_catalogue(registry: Registry) -> dict[str, Setting]:
    """Every setting ``nnv run`` takes: RunConfig's fields, then each installed method's
    options (the default method's first). A name two methods share is one setting."""
    catalogue: dict[str, Setting] = {}
    for field, hint in option_fields(RunConfig):
        if field.name == "method_options":
            hint = dict[str, Any]  # given as a table; kept as the method's typed Options
        catalogue[field.name] = Setting(field.name, field, hint, ())
    for method in method_names(registry):
        for field, hint in option_fields(method_options_class(registry, method)):
            known = catalogue.get(field.name)
            if known is None:
                catalogue[field.name] = Setting(field.name, field, hint, (method,))
            elif known.methods:
                catalogue[field.name] = replace(known, methods=(*known.methods, method))
    return catalogue


def method_names(registry: Registry) -> list[str]:
    """The installed repair methods, the default first."""
    names = registry.names("repair-method")
    return sorted(names, key=lambda name: (name != DEFAULT_METHOD, name))


def method_options_class(registry: Registry, method: str) -> type:
    """The options dataclass of the method ``method`` (an unknown method is an error)."""
    return options_class(registry.get("repair-method", method).factory) or NoOptions


def assemble(settings: Mapping[str, Any], registry: Registry) -> RunConfig:
    """The RunConfig of settings given by key (a config file's and the command line's,
    merged): RunConfig's own, and the chosen method's, checked against its Options (the keys
    of a ``method_options`` table among them; a key of its own wins over the table's)."""
    catalogue = settings_catalogue(registry)
    unknown = [key for key in settings if key not in catalogue]
    if unknown:
        known = ", ".join(catalogue)
        raise InputError(f"unknown setting(s) {', '.join(unknown)} (known: {known})")
    method = settings.get("method", DEFAULT_METHOD)
    check_kind("nnv run", "method", method, str)
    declared = method_options_class(registry, method)
    own = {field.name for field, _ in option_fields(declared)}
    _refuse_foreign(method, [key for key in settings if catalogue[key].methods], own, catalogue)
    table = settings.get("method_options") or {}
    check_kind("nnv run", "method_options", table, dict[str, Any])
    raw = {**table, **{key: value for key, value in settings.items() if key in own}}
    common = {
        key: value
        for key, value in settings.items()
        if not catalogue[key].methods and key != "method_options"
    }
    method_options = build(declared, raw, f"method {method!r}")
    return build(RunConfig, {**common, "method_options": method_options}, "nnv run")


def _refuse_foreign(
    method: str, keys: list[str], own: set[str], catalogue: Mapping[str, Setting]
) -> None:
    """Settings of other methods are refused, not ignored: the user asked for them."""
    foreign: dict[str, list[str]] = {}
    for key in keys:
        if key not in own:
            foreign.setdefault(catalogue[key].methods[0], []).append(key)
    if foreign:
        groups = "; ".join(
            f"of method {owner!r}: {', '.join(names)}" for owner, names in foreign.items()
        )
        raise InputError(f"method {method!r} takes no settings {groups}")
