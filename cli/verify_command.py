"""``nnv verify``: does a network satisfy a VNN-LIB property? (VNN-COMP conventions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nnv.core.plugin.options import parse_pairs
from nnv.core.plugin.registry import default_registry
from nnv.core.runtime.files import write_text_atomic
from nnv.core.verify.verifier import Verifier

from .errors import refuse_nan, user_errors
from .progress import BabProgress


def verify(
    network: Annotated[
        Path, typer.Argument(metavar="NETWORK", help="Network file (.onnx, .json, .nnet).")
    ],
    property_file: Annotated[
        Path, typer.Argument(metavar="PROPERTY", help="Property file (.vnnlib).")
    ],
    solver: Annotated[str, typer.Option(help="Solver plugin (see `nnv plugins`).")] = "highs",
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds for the whole verification.", min=0, callback=refuse_nan),
    ] = None,
    result_file: Annotated[
        Path | None, typer.Option(help="Write the VNN-COMP result file here.")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
    solver_option: Annotated[
        list[str] | None,
        typer.Option("--solver-option", "-o", help="Solver option key=value (repeatable)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the falsification samples.")] = 0,
    strategy: Annotated[
        str,
        typer.Option(
            help="bab: branch and bound over input boxes, the solver only where splitting "
            "stops paying; milp: bounds, then one solver call per case."
        ),
    ] = "bab",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress line on stderr.")] = False,
) -> None:
    """Verify NETWORK against PROPERTY.

    The first line printed is the verdict in VNN-LIB's sense: `sat` (the property is violated;
    a replayed counterexample follows), `unsat` (it holds), `timeout` or `unknown`.
    """
    with user_errors():
        registry = default_registry()
        chosen = registry.solver(solver, **parse_pairs(solver_option or [], "solver"))
        net = registry.load_network(network)
        prop = registry.load_property(property_file)
        prop.check_fits(net.n_inputs, net.n_outputs)
        verifier = Verifier(
            chosen, timeout=timeout, seed=seed, events=registry.hook, strategy=strategy
        )
        with BabProgress(registry, quiet):
            result = verifier.verify(net, prop)
        if result_file is not None:
            write_text_atomic(result_file, result.vnncomp_text())
    if json_output:
        typer.echo(json.dumps(result.to_dict()))
        return
    typer.echo(result.status)
    if result.status == "sat":
        typer.echo(f"counterexample (found by {result.found_by}): {result.counterexample.tolist()}")
        typer.echo(f"output: {result.output.tolist()}")
    elif result.status == "unsat":
        how = "exact arithmetic" if result.exact else "floating-point MILP"
        cases = "input boxes" if result.extra.get("strategy") == "bab" else "cases"
        typer.echo(
            f"holds: {result.proved_by_bounds} of {result.subproblems} {cases} by bounds, "
            f"{result.proved_by_solver} by {result.solver} ({how})"
        )
    elif result.message:
        typer.echo(result.message)
    typer.echo(f"time: {result.seconds:.3f} s")
