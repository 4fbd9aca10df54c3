"""What a trial's result depends on, so that a resumed run reuses only its own trials."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nnv.core.plugin.heuristic import Heuristic
from nnv.core.repair.loop import Repairer
from nnv.core.run.config import RunConfig
from nnv.core.run.results import nnv_version


def fingerprint(config: RunConfig, heuristic: Heuristic, repairer: Repairer) -> dict[str, Any]:
    """What a trial's result depends on: the input files' contents, the trial settings, and
    the code that runs it (nnv's own source and the solver libraries' versions)."""
    files = [config.network, *config.properties, config.data]
    return json.loads(
        json.dumps(
            {
                "files": {
                    str(path): hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in files
                },
                "heuristic": config.heuristic,
                "heuristic_options": heuristic.options,
                "solver": config.solver,
                "solver_options": repairer.solver.options,
                "verifier": config.verifier,
                "verifier_options": repairer.verifier.options,
                "mode": config.mode,
                "threshold": config.threshold,
                "threshold_search": config.threshold_search,
                "objective": config.objective,
                "max_change": config.max_change,
                "line_synthesis": config.line_synthesis,
                "trial_timeout": config.trial_timeout,
                "repair_settings": asdict(repairer.settings),
                "certifier": repairer.certifier.describe(),
                "nnv_version": nnv_version(),
                "engine": engine_version(),
                "libraries": library_versions(),
            },
            default=str,
        )
    )


@functools.cache
def engine_version() -> str:
    """A hash of nnv's own source files: changes whenever the engine's code does."""
    digest = hashlib.sha256()
    for package in ("nnv.core", "nnv.plugins"):
        for folder in importlib.import_module(package).__path__:
            root = Path(folder)
            for path in sorted(root.rglob("*.py")):
                digest.update(f"{package}/{path.relative_to(root)}".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    """The versions of the libraries whose answers a trial depends on."""
    versions: dict[str, str | None] = {}
    for name in ("numpy", "scipy", "highspy", "z3-solver", "cvc5", "pyomo"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions
