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
from nnv.core.plugin.options import info, option_fields
from nnv.core.repair.loop import Repairer
from nnv.core.run.config import RunConfig
from nnv.core.run.results import nnv_version


def fingerprint(
    config: RunConfig, options: Any, heuristic: Heuristic, repairer: Repairer
) -> dict[str, Any]:
    """What a trial's result depends on: the input files' contents, the trial settings (the
    options of ``config`` and of the method's ``options`` marked ``fingerprint``, a plugin's
    options as the built plugin holds them, defaults filled in), and the code that runs it
    (nnv's own source and the solver libraries' versions)."""
    files = [config.network, *config.properties, config.data]
    built = {
        "heuristic": heuristic.options,
        "solver": repairer.solver.options,
        "verifier": repairer.verifier.options,
    }
    return json.loads(
        json.dumps(
            {
                "files": {
                    str(path): hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in files
                },
                **trial_settings(options, built),
                **trial_settings(config, built),
                "repair_settings": asdict(repairer.settings),
                "certifier": repairer.certifier.describe(),
                "nnv_version": nnv_version(),
                "engine": engine_version(),
                "libraries": library_versions(),
            },
            default=str,
        )
    )


def trial_settings(options: Any, built: dict[str, Any]) -> dict[str, Any]:
    """The options marked ``fingerprint``; a table of a plugin's options (its ``kind``) as
    the plugin built from it holds them."""
    settings = {}
    for field, _ in option_fields(type(options)):
        meta = info(field)
        if meta.fingerprint:
            value = getattr(options, field.name)
            settings[field.name] = built.get(meta.kind, value) if meta.kind else value
    return settings


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
