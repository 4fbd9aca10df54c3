"""What loader and saver plugins are: they move networks and properties in and out of files.

Each declares the file suffixes it handles; the registry picks one by suffix.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar

from nnv.core.model.network import Network
from nnv.core.model.property import Property


class NetworkLoader(abc.ABC):
    """Reads a network file. Must never unpickle: files come from users."""

    suffixes: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""

    @abc.abstractmethod
    def load(self, path: Path) -> Network:
        """Load ``path``; raise :class:`nnv.core.errors.InputError` with one clear line if bad."""


class NetworkSaver(abc.ABC):
    """Writes a network file; the round trip through the matching loader is exact."""

    suffixes: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""

    @abc.abstractmethod
    def save(self, network: Network, path: Path) -> None:
        """Write ``network`` to ``path`` (atomically: a temporary file, then a rename)."""


class PropertyLoader(abc.ABC):
    """Reads a property file."""

    suffixes: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""

    @abc.abstractmethod
    def load(self, path: Path, name: str | None = None) -> Property:
        """Load ``path``; ``name`` picks one property from files that hold several."""
