"""The options model (core/plugin/options.py) and Registry.create, which checks a plugin's
options before it builds the plugin."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from nnv.core import Heuristic, InputError, hookimpl
from nnv.core.plugin.options import Options, build, option, parse_pairs, to_json
from nnv.core.plugin.registry import Registry


@dataclass(frozen=True)
class _Tuning(Options):
    depth: int = option(3, minimum=1, maximum=10, help="how deep")
    rate: float | None = option(None, help="a rate")
    style: Literal["plain", "fancy"] = option("plain", help="the style")
    names: list[str] = option(default_factory=list, help="names")
    folder: Path | None = option(None, help="a folder")
    verbose: bool = option(False, help="talk")


def test_build_takes_good_values_and_fills_defaults() -> None:
    built = build(_Tuning, {"depth": 4, "rate": 1, "names": ["a"], "folder": "out"}, "thing 't'")
    assert built == _Tuning(depth=4, rate=1, names=["a"], folder=Path("out"))
    assert to_json(built) == {
        "depth": 4, "rate": 1, "style": "plain", "names": ["a"], "folder": "out", "verbose": False,
    }  # fmt: skip


def test_an_unknown_key_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InputError) as error:
        build(_Tuning, {"dpeth": 2}, "thing 't'")
    assert str(error.value) == (
        "thing 't' has no option 'dpeth' (known: depth, folder, names, rate, style, verbose)"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"depth": "x"}, "thing 't': option 'depth' takes an integer, not 'x'"),
        ({"depth": True}, "thing 't': option 'depth' takes an integer, not True"),
        ({"depth": 2.5}, "thing 't': option 'depth' takes an integer, not 2.5"),
        ({"rate": "fast"}, "thing 't': option 'rate' takes a number or None, not 'fast'"),
        ({"names": ["a", 1]}, "thing 't': option 'names' takes a list of strings, not ['a', 1]"),
        ({"verbose": 1}, "thing 't': option 'verbose' takes true or false, not 1"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        build(_Tuning, raw, "thing 't'")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"rate": math.nan}, "rate must be a number, not nan"),
        ({"depth": 0}, "depth must be at least 1, not 0"),
        ({"depth": 11}, "depth must be at most 10, not 11"),
        ({"style": "loud"}, "style must be one of plain, fancy, not 'loud'"),
    ],
)
def test_nan_bounds_and_choices_are_checked(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        build(_Tuning, raw, "thing 't'")
    with pytest.raises(InputError, match=re.escape(message)):
        _Tuning(**raw)  # an Options checks itself however it is made


def test_a_plain_dataclass_is_checked_by_build() -> None:
    @dataclass(frozen=True)
    class Plain:
        level: int = option(1, minimum=0)

    assert build(Plain, {"level": 2}, "p").level == 2
    with pytest.raises(InputError, match="level must be at least 0, not -1"):
        build(Plain, {"level": -1}, "p")


def test_pairs_are_typed_and_a_bad_pair_names_whose_option_it_is() -> None:
    pairs = ["count=5", "rate=1e-3", "on=TRUE", "split=test"]
    assert parse_pairs(pairs, "heuristic") == {
        "count": 5, "rate": 1e-3, "on": True, "split": "test"
    }  # fmt: skip
    with pytest.raises(InputError, match="^heuristic option 'count' is not of the form key=value"):
        parse_pairs(["count"], "heuristic")


# -- Registry.create ---------------------------------------------------------------------------

BUILT: list[str] = []


class _Counting(Heuristic):
    """Records that it was built; declares its options as a dataclass."""

    name = "counting"

    @dataclass(frozen=True)
    class Options:
        count: int = option(1, minimum=1)

    def __init__(self, count: int = 1) -> None:
        BUILT.append(self.name)
        super().__init__(count=count)

    def constraints(self, network: Any, data: Any) -> Any:
        raise NotImplementedError


class _Signature(Heuristic):
    """No options dataclass: its signature says what it takes."""

    name = "signature"

    def __init__(self, width: int = 2) -> None:
        BUILT.append(self.name)
        super().__init__(width=width)

    def constraints(self, network: Any, data: Any) -> Any:
        raise NotImplementedError


class _Broken(Heuristic):
    """A constructor with a bug in it: the TypeError is its own, not a bad option."""

    name = "broken"

    def __init__(self, width: int = 2) -> None:
        super().__init__(width=len(width))  # type: ignore[arg-type]

    def constraints(self, network: Any, data: Any) -> Any:
        raise NotImplementedError


class _Plugin:
    @hookimpl
    def nnv_heuristics(self) -> dict[str, type]:
        return {"counting": _Counting, "signature": _Signature, "broken": _Broken}


@pytest.fixture
def registry() -> Registry:
    BUILT.clear()
    return Registry(load_entry_points=False, plugins=(_Plugin(),))  # type: ignore[arg-type]


def test_create_builds_with_checked_options(registry: Registry) -> None:
    assert registry.create("heuristic", "counting", {"count": 3}).options == {"count": 3}
    assert registry.create("heuristic", "counting", _Counting.Options(4)).options == {"count": 4}
    assert registry.create("heuristic", "signature").options == {"width": 2}
    assert BUILT == ["counting", "counting", "signature"]


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("counting", {"colour": "red"}, "heuristic 'counting' has no option 'colour'"),
        ("counting", {"count": "x"}, "option 'count' takes an integer, not 'x'"),
        ("counting", {"count": 0}, "count must be at least 1, not 0"),
        ("signature", {"colour": "red"}, "heuristic 'signature' has no option 'colour'"),
    ],
)
def test_create_refuses_bad_options_before_building(
    registry: Registry, name: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        registry.create("heuristic", name, options)
    assert BUILT == []  # nothing was built


def test_create_does_not_hide_a_type_error_inside_a_constructor(registry: Registry) -> None:
    with pytest.raises(TypeError, match="has no len"):
        registry.create("heuristic", "broken", {"width": 3})
