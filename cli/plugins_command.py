"""``nnv plugins``: what is installed, what it can do and where it came from."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nnv.core.plugin.registry import default_registry

from .errors import user_errors


def plugins(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """List installed plugins: name, kind, capabilities, origin."""
    with user_errors():
        registry = default_registry()
        infos = registry.all()
    for name, reason in registry.broken.items():
        typer.echo(f"nnv: warning: plugin {name} could not be loaded: {reason}", err=True)
    if json_output:
        rows = [
            {
                "name": i.name,
                "kind": i.kind,
                "capabilities": list(i.capabilities),
                "origin": i.origin,
                "description": i.description,
            }
            for i in infos
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="nnv plugins")
    for column in ("name", "kind", "capabilities", "origin", "description"):
        table.add_column(column)
    for info in infos:
        table.add_row(
            info.name, info.kind, ", ".join(info.capabilities), info.origin, info.description
        )
    Console(width=160).print(table)
