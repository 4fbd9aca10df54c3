"""``nnv run``'s TOML config file, and how it merges with the command line.

The file's keys are the settings' names (:func:`nnv.core.run.config.settings_catalogue`:
RunConfig's fields and every installed method's options; dashes or underscores alike, a
flag's own name too, such as ``property``); ``[method_options]`` and the other tables hold
a plugin's options. Values are checked against the settings' types when the file is read;
relative paths in it are relative to the file's own folder, so a config works from wherever
it is run. Settings given on the command line win over the file, key by key (tables of
options too, key by key inside them).
"""

from __future__ import annotations

import math
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import MISSING
from pathlib import Path
from typing import Any

from nnv.core.errors import InputError
from nnv.core.plugin.options import alternatives, check_kind, info, option_fields
from nnv.core.run.config import RunConfig, Setting


def flag_name(setting: Setting) -> str:
    """The setting's flag on the command line, as a user types it (``--property``)."""
    declared = info(setting.field).flag
    return declared.split("/")[0] if declared else f"--{setting.name.replace('_', '-')}"


def is_table(setting: Setting) -> bool:
    """A table of options (a plugin's ``key=value`` pairs)."""
    return typing.get_origin(setting.hint) is dict


def load_config(path: Path, catalogue: Mapping[str, Setting]) -> dict[str, Any]:
    """The file's settings, checked, keys normalised, paths resolved against its folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path}: not valid TOML ({error})") from None
    return normalise(raw, str(path), catalogue, path.parent)


def normalise(
    raw: Mapping[str, Any], where: str, catalogue: Mapping[str, Setting], folder: Path
) -> dict[str, Any]:
    """Keys with underscores, flag names resolved, every value checked; unknown keys refused."""
    aliases = {
        flag_name(setting)[2:].replace("-", "_"): name
        for name, setting in catalogue.items()
        if not is_table(setting)
    }
    settings: dict[str, Any] = {}
    unknown = []
    for key, value in raw.items():
        name = key.replace("-", "_")
        name = aliases.get(name, name)
        if name not in catalogue:
            unknown.append(key)
            continue
        if name in settings:
            raise InputError(f"{where}: {key!r} is given twice")
        settings[name] = _checked(where, key, value, catalogue[name], folder)
    if unknown:
        known = ", ".join(sorted({*catalogue, *aliases}))
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {known})")
    return settings


def _checked(where: str, key: str, value: Any, setting: Setting, folder: Path) -> Any:
    """A file's value as the setting takes it: parsed (``free = "w1.1.1,b2.2"``), a single
    value for a list, a path made relative to the file's folder."""
    parse = info(setting.field).parse
    if parse is not None:
        return parse(f"{where}: {key}", value)
    kinds = alternatives(setting.hint)
    if any(typing.get_origin(kind) is list for kind in kinds) and isinstance(value, str):
        value = [value]  # a list takes one value too
    if Path in kinds and isinstance(value, str):
        value = folder / value
    if list[Path] in kinds and isinstance(value, list):
        value = [folder / item if isinstance(item, str) else item for item in value]
    if float in kinds and int not in kinds and type(value) is int:
        value = float(value)  # TOML's 60 is the number 60.0, as the flag reads it
    if isinstance(value, float) and math.isnan(value):  # TOML has nan; it passes any bound
        raise InputError(f"{where}: {key} must be a number, not {value!r}")
    check_kind(where, key, value, setting.hint)
    return value


def merge(
    file: Mapping[str, Any], command_line: Mapping[str, Any], catalogue: Mapping[str, Setting]
) -> dict[str, Any]:
    """The run's settings: the command line's given ones (not None) over the file's; the
    settings of one ``group`` are one choice, so one given on the command line replaces any
    of its group the file gives."""
    settings = dict(file)
    given = {key: value for key, value in command_line.items() if value is not None}
    for key, value in given.items():
        if is_table(catalogue[key]):
            settings[key] = {**settings.get(key, {}), **value}
        else:
            settings[key] = value
    for key in given:
        group = info(catalogue[key].field).group
        for other, setting in catalogue.items():
            if group and other not in given and info(setting.field).group == group:
                settings.pop(other, None)
    required = [
        f.name
        for f, _ in option_fields(RunConfig)
        if f.default is MISSING and f.default_factory is MISSING
    ]
    missing = [flag_name(catalogue[name]) for name in required if not settings.get(name)]
    if missing:
        raise InputError(
            f"missing {', '.join(missing)} (on the command line or in the config file)"
        )
    return settings
