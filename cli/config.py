"""``nnv run``'s TOML config file, and how it merges with the command line.

The file holds the same keys as the options (dashes or underscores alike); relative paths in
it are relative to the file's own folder, so a config works from wherever it is run. Options
given on the command line win over the file, key by key (``heuristic_options`` and
``method_options`` too). The retrain method's options have keys of their own (``iterations``,
``sampling``, ...), which land in ``method_options``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nnv.core.errors import InputError
from nnv.core.run.config import RunConfig

PATH_KEYS = ("network", "data", "out")
FREE_KEYS = ("free", "free_layers", "free_neurons", "free_sets")  # what to free: one choice


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InputError(f"{key} must be a string, not {value!r}")
    return value


def _number(key: str, value: Any) -> float:
    # TOML has `nan`; like the command line's options, refuse it (it passes every range check)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise InputError(f"{key} must be a number, not {value!r}")
    return float(value)


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{key} must be an integer, not {value!r}")
    return value


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{key} must be true or false, not {value!r}")
    return value


def _texts(key: str, value: Any) -> list[str]:
    """A list of strings, or one string."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise InputError(f"{key} must be a string or a list of strings, not {value!r}")
    return [_text(key, item) for item in value]


def free_set(key: str, value: Any) -> list[str]:
    """``"w1.1.1,b2.2"`` or ``["w1.1.1", "b2.2"]``."""
    items = value.split(",") if isinstance(value, str) else _texts(key, value)
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
    if not isinstance(value, list):
        raise InputError(f"{key} must be a list of layer numbers, not {value!r}")
    return [_integer(key, item) for item in value]


def names(key: str, value: Any) -> list[str]:
    """Plugin names in order: ``"keep,l1"`` or ``["keep", "l1"]``."""
    items = value.split(",") if isinstance(value, str) else _texts(key, value)
    chosen = [item.strip() for item in items if item.strip()]
    if not chosen:
        raise InputError(f"{key}: no names given")
    return chosen


def _options(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{key} must be a table of options, not {value!r}")
    return dict(value)


# key -> how its value is checked and converted (the RunConfig field has the same name)
CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "network": _text,
    "properties": _texts,
    "data": _text,
    "out": _text,
    "free": free_set,
    "free_sets": free_sets,
    "free_layers": layer_list,
    "free_neurons": free_set,
    "search": _text,
    "max_free": _integer,
    "layers": layer_list,
    "top_k": _integer,
    "target_accuracy": _number,
    "heuristic": _text,
    "heuristic_options": _options,
    "solver": _text,
    "verifier": _text,
    "mode": _text,
    "threshold": _integer,
    "objective": names,
    "threshold_search": _flag,
    "max_change": _number,
    "line_synthesis": _flag,
    "pair_time": _number,
    "timeout": _number,
    "trial_timeout": _number,
    "seed": _integer,
    "executor": _text,
    "workers": _integer,
    "scheduler": _text,
    "restart": _flag,
    "method": _text,
    "method_options": _options,
    "decision": _text,
    # the retrain method's options, also keys of their own (and options of the command line)
    "iterations": _integer,
    "sampling": _text,
    "region_points": _integer,
    "train_points": _integer,
    "epochs": _integer,
    "learning_rate": _number,
}
ALIASES = {"property": "properties", "free_layer": "free_layers", "free_neuron": "free_neurons"}
METHOD_OPTION_KEYS = (
    "iterations", "sampling", "region_points", "train_points", "epochs", "learning_rate",
)  # fmt: skip


def load_config(path: Path) -> dict[str, Any]:
    """The file's settings, checked, keys normalised, paths resolved against its folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path}: not valid TOML ({error})") from None
    settings = normalise(raw, str(path))
    for key in PATH_KEYS:
        if key in settings:
            settings[key] = str(path.parent / settings[key])
    if "properties" in settings:
        settings["properties"] = [str(path.parent / p) for p in settings["properties"]]
    return settings


def normalise(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Keys with underscores, aliases resolved, every value checked; unknown keys refused."""
    settings: dict[str, Any] = {}
    unknown = []
    for key, value in raw.items():
        name = key.replace("-", "_")
        name = ALIASES.get(name, name)
        if name not in CHECKS:
            unknown.append(key)
            continue
        if name in settings:
            raise InputError(f"{where}: {key!r} is given twice")
        settings[name] = CHECKS[name](f"{where}: {key}", value)
    if unknown:
        known = ", ".join(sorted([*CHECKS, *ALIASES]))
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {known})")
    return settings


def merge(file: Mapping[str, Any], command_line: Mapping[str, Any]) -> RunConfig:
    """The run's config: the command line's given options over the file's settings."""
    settings = _with_method_options(file)
    for key, value in _with_method_options(command_line).items():
        if key in ("heuristic_options", "method_options"):
            settings[key] = {**settings.get(key, {}), **value}
        elif value is not None:
            settings[key] = value
    # what to free is one choice: the command line's replaces the file's, whichever form
    chosen = [key for key in FREE_KEYS if command_line.get(key) is not None]
    for key in FREE_KEYS:
        if chosen and key not in chosen:
            settings.pop(key, None)
    missing = [key for key in ("network", "properties", "data") if not settings.get(key)]
    if missing:
        flags = ", ".join(f"--{'property' if k == 'properties' else k}" for k in missing)
        raise InputError(f"missing {flags} (on the command line or in the config file)")
    for key in PATH_KEYS:
        if key in settings:
            settings[key] = Path(settings[key])
    settings["properties"] = [Path(p) for p in settings["properties"]]
    return RunConfig(**settings)


def _with_method_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The retrain options given as keys of their own moved into ``method_options`` (where
    they win over the same key in that table)."""
    moved = {key: settings[key] for key in METHOD_OPTION_KEYS if settings.get(key) is not None}
    rest = {key: value for key, value in settings.items() if key not in METHOD_OPTION_KEYS}
    if moved or "method_options" in rest:
        rest["method_options"] = {**(rest.get("method_options") or {}), **moved}
    return rest
