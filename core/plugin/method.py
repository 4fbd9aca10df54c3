"""Repair methods: what ``nnv run --method NAME`` does, from the inputs to the results folder.

A method is a plugin (hook ``nnv_repair_methods``) like a solver or a search. The built-in
``solver`` method is the paper's: free a few parameters and synthesise their values (the
search of :mod:`nnv.plugins.methods.solver`). Others, such as the ``retrain`` baseline, take
the same :class:`~nnv.core.run.config.RunConfig` and write the same folder (``result.json``,
``trials.csv``, ``run.json``), and they keep the rule every method keeps: ``repaired.onnx``
holds only a network that :class:`~nnv.core.verify.certifier.Certifier` proved; anything else
a method wants to keep goes to ``unverified.onnx``, never under the repaired name.

A method's own options are its ``Options`` dataclass (see :mod:`nnv.core.plugin.options`):
each field becomes a flag of ``nnv run`` and a key of its config file, and the registry checks
them before the method is built.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

from nnv.core.plugin.options import NoOptions, build
from nnv.core.plugin.registry import Registry
from nnv.core.repair.trial import TrialResult
from nnv.core.run.config import RunConfig
from nnv.core.run.results import RunOutcome


class RepairMethod(abc.ABC):
    """Base class of repair-method plugins. The method's own options are the fields of its
    ``Options`` dataclass; they come to the constructor (``RunConfig.method_options``) and are
    kept, checked, in ``self.options``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions

    def __init__(self, **options: Any) -> None:
        self.options: Any = build(self.Options, options, f"method {self.name!r}")

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
