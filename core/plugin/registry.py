"""Plugin loading and lookup: the entry-point group ``nnv``, read through pluggy.

Built-in plugins are registered through the same entry-point group as third-party ones, so
the path a plugin author follows is the path nnv itself takes.

nnv's own entry points are loaded when they are needed, not at start-up: a plugin module may
import a solver library that costs a tenth of a second. A lookup of a name
(``solver("highs")``, the loader of ``.onnx``) loads the built-in entry point of that name
(each is named after what it provides) and all the others only when that one does not
provide it; listing (``all``, ``names``: ``nnv plugins``) loads everything. Third-party entry
points are loaded at start-up as before: they may listen to events, which nnv's own plugins
do not, and a name one of them shares with a built-in plugin is reported as soon as the
built-in one loads.
"""

from __future__ import annotations

import functools
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pluggy

from nnv.core.errors import InputError, PluginError
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin import hookspecs
from nnv.core.plugin.formats import NetworkLoader, NetworkSaver, PropertyLoader
from nnv.core.plugin.options import checked_keywords
from nnv.core.plugin.solver import Solver
from nnv.core.query.capabilities import as_capabilities

ENTRY_POINT_GROUP = "nnv"
BUILT_IN = "nnv"  # the distribution whose entry points are loaded on demand


# plugin kind -> the hook that contributes it
KINDS: dict[str, str] = {
    "solver": "nnv_solvers",
    "network-loader": "nnv_network_loaders",
    "network-saver": "nnv_network_savers",
    "property-loader": "nnv_property_loaders",
    "heuristic": "nnv_heuristics",
    "search": "nnv_search_strategies",
    "objective": "nnv_objectives",
    "executor": "nnv_executors",
    "repair-method": "nnv_repair_methods",
    "trainer": "nnv_trainers",
}


@dataclass(frozen=True)
class PluginInfo:
    """One named contribution of a plugin, and where it came from."""

    name: str
    kind: str
    factory: Any
    origin: str

    @property
    def capabilities(self) -> tuple[str, ...]:
        """What ``nnv plugins`` lists: a solver's :class:`Capability` values, sorted; a loader's
        or saver's file suffixes."""
        found = getattr(self.factory, "capabilities", None)
        if found is not None:
            return tuple(sorted(member.value for member in as_capabilities(found, self.name)))
        return tuple(getattr(self.factory, "suffixes", ()))

    @property
    def description(self) -> str:
        text = getattr(self.factory, "description", "") or (self.factory.__doc__ or "")
        return text.strip().splitlines()[0] if text.strip() else ""


class Registry:
    """Every installed plugin, by kind and name."""

    def __init__(
        self, load_entry_points: bool = True, plugins: tuple[ModuleType, ...] = ()
    ) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        # entry point -> why it could not be loaded; one broken plugin must not stop the rest
        self.broken: dict[str, str] = {}
        self._origins: dict[int, str] = {}
        # nnv's own entry points not loaded yet, by name
        self._pending: dict[str, list[importlib.metadata.EntryPoint]] = {}
        if load_entry_points:
            third_party = []
            for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                if entry_point.dist is not None and entry_point.dist.name == BUILT_IN:
                    self._pending.setdefault(entry_point.name, []).append(entry_point)
                else:
                    third_party.append(entry_point)
            self._load_entry_points(third_party)
        for plugin in plugins:
            self.manager.register(plugin)
        self.manager.check_pending()
        self._plugins = self._collect()

    def _load(self, name: str | None = None) -> None:
        """Load the pending entry points called ``name`` (None: all of them)."""
        names = list(self._pending) if name is None else [name]
        entry_points = [ep for n in names for ep in self._pending.pop(n, [])]
        if entry_points:
            self._load_entry_points(entry_points)
            self.manager.check_pending()
            self._plugins = self._collect()

    def _known(self, kind: str, name: str) -> bool:
        """Whether ``name`` of ``kind`` is provided, loading entry points until it is."""
        if name not in self._plugins[kind]:
            self._load(name)
        if name not in self._plugins[kind]:
            self._load()
        return name in self._plugins[kind]

    def _load_entry_points(self, entry_points: list[importlib.metadata.EntryPoint]) -> None:
        """Like pluggy's ``load_setuptools_entrypoints``, but each plugin fails on its own."""
        for entry_point in entry_points:
            dist = entry_point.dist
            origin = f"{dist.name} {dist.version}" if dist is not None else entry_point.value
            name = f"{entry_point.name}@{origin}"
            if self.manager.get_plugin(name) is not None:
                continue
            try:
                plugin = entry_point.load()
                self.manager.register(plugin, name=name)
            except Exception as error:  # noqa: BLE001 - a third party's import can raise anything
                self.broken[f"{entry_point.name} ({origin})"] = f"{type(error).__name__}: {error}"
                continue
            self._origins[id(plugin)] = origin

    @property
    def hook(self) -> hookspecs.Events:
        """The hook caller, for firing events: ``registry.hook.nnv_trial_finished(result=r)``
        (pluggy's caller, typed by the event specs)."""
        return cast(hookspecs.Events, self.manager.hook)

    def _origin(self, plugin: object) -> str:
        return self._origins.get(id(plugin), getattr(plugin, "__name__", repr(plugin)))

    def _collect(self) -> dict[str, dict[str, PluginInfo]]:
        table: dict[str, dict[str, PluginInfo]] = {kind: {} for kind in KINDS}
        for kind, hook_name in KINDS.items():
            caller = getattr(self.manager.hook, hook_name)
            for impl in caller.get_hookimpls():
                contributed = impl.function() or {}
                origin = self._origin(impl.plugin)
                for name, factory in contributed.items():
                    if name in table[kind]:
                        raise PluginError(
                            f"two plugins provide the {kind} {name!r}: "
                            f"{table[kind][name].origin} and {origin}"
                        )
                    table[kind][name] = PluginInfo(name, kind, factory, origin)
        return table

    # -- lookup ----------------------------------------------------------------------------

    def all(self) -> list[PluginInfo]:
        self._load()
        return [info for kind in KINDS for info in self._plugins[kind].values()]

    def names(self, kind: str) -> list[str]:
        self._load()
        return sorted(self._plugins[kind])

    def get(self, kind: str, name: str) -> PluginInfo:
        if not self._known(kind, name):
            known = ", ".join(self.names(kind)) or "none installed"
            raise PluginError(f"unknown {kind} {name!r} (installed: {known})")
        return self._plugins[kind][name]

    def create(self, kind: str, name: str, options: Any = None) -> Any:
        """The plugin ``name`` of ``kind`` built with ``options``: a mapping, an instance of
        the factory's ``Options`` dataclass, or None (its defaults).

        The options are checked before anything is built, against the factory's ``Options``
        when it has one, else against the names its signature takes
        (:func:`~nnv.core.plugin.options.checked_keywords`): a bad one is an ``InputError``.
        What the constructor raises is the plugin's own and passes through as it is (a
        ``TypeError`` inside it is a bug to see, not a bad option).
        """
        factory = self.get(kind, name).factory
        return factory(**checked_keywords(factory, options, f"{kind} {name!r}"))

    def solver(self, name: str, **options: Any) -> Solver:
        """A configured solver instance."""
        solver: Solver = self.create("solver", name, options)
        return solver

    def _by_suffix(self, kind: str, path: Path) -> PluginInfo:
        suffix = path.suffix.lower()
        for load in (lambda: self._load(suffix.lstrip(".")), self._load):  # `onnx` for .onnx
            load()
            for info in self._plugins[kind].values():
                if suffix in info.factory.suffixes:
                    return info
        known = sorted({s for i in self._plugins[kind].values() for s in i.factory.suffixes})
        raise InputError(
            f"{path}: no {kind} for {suffix or 'files without a suffix'!r} "
            f"(known: {', '.join(known)})"
        )

    def load_network(self, path: str | Path) -> Network:
        path = _existing(path)
        loader: NetworkLoader = self._by_suffix("network-loader", path).factory()
        return loader.load(path)

    def save_network(self, network: Network, path: str | Path, **options: Any) -> None:
        """Save with the saver for the suffix; ``options`` go to its constructor."""
        path = Path(path)
        saver: NetworkSaver = self._by_suffix("network-saver", path).factory(**options)
        saver.save(network, path)

    def load_property(self, path: str | Path, name: str | None = None) -> Property:
        path = _existing(path)
        loader: PropertyLoader = self._by_suffix("property-loader", path).factory()
        return loader.load(path, name)


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return path


@functools.cache
def default_registry() -> Registry:
    """The registry of every installed plugin, loaded once per process."""
    return Registry()
