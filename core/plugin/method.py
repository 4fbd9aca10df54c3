"""Repair methods: what ``nnv run --method NAME`` does, from the inputs to the results folder.

A method is a plugin (hook ``nnv_repair_methods``) like a solver or a search. The built-in
``solver`` method is the paper's: free a few parameters and synthesise their values (the
search of :mod:`nnv.plugins.methods.solver`). Others, such as the ``retrain`` baseline, take
the same :class:`~nnv.core.run.config.RunConfig` and write the same folder (``result.json``,
``trials.csv``, ``run.json``), and they keep the rule every method keeps: ``repaired.onnx``
holds only a network that :class:`~nnv.core.verify.certifier.Certifier` proved; anything else
a method wants to keep goes to ``unverified.onnx``, never under the repaired name.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

from nnv.core.errors import InputError
from nnv.core.plugin.registry import Registry
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import RunConfig
from nnv.core.run.results import RunOutcome


class RepairMethod(abc.ABC):
    """Base class of repair-method plugins; the method's own options go to the constructor
    (``RunConfig.method_options``), and a misspelt one must be refused there."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abc.abstractmethod
    def repair(
        self,
        config: RunConfig,
        registry: Registry,
        on_step: Callable[[TrialResult], None] | None = None,
        on_planned: Callable[[int | None], None] | None = None,
    ) -> RunOutcome:
        """Run, write ``config.out`` and return the outcome.

        ``on_step`` hears each step as it ends (a trial of the search, an iteration of
        retrain); ``on_planned`` how many steps are known to come. Bad input raises an
        ``NnvError`` before anything is written.
        """


def check_options(method: str, options: dict[str, Any], known: tuple[str, ...]) -> None:
    """Refuse options a method does not know, naming those it does."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        takes = f"it takes {', '.join(known)}" if known else "it takes none"
        raise InputError(f"method {method!r}: unknown option(s) {', '.join(unknown)} ({takes})")
