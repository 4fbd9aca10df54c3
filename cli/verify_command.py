"""``nnv verify``: does a network satisfy a VNN-LIB property? (VNN-COMP conventions).

With ``--instances CSV --out DIR`` it runs a whole benchmark instead (:mod:`.batch_command`).
The engine is imported inside the function: ``nnv --help`` and the other commands never
pay for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nnv.core.errors import InputError
from nnv.core.status import proved_share

from .errors import refuse_nan, user_errors
from .progress import BabProgress

BATCH = "Whole benchmark (--instances)"
# Seconds of the timeout kept for printing, writing the result file and the interpreter's exit
# (module teardown after torch: a few tenths of a second once main() has frozen the objects).
EXIT_RESERVE = 1.0


def verify(
    network: Annotated[
        Path | None,
        typer.Argument(metavar="NETWORK", help="Network file (.onnx, .json, .nnet)."),
    ] = None,
    property_file: Annotated[
        Path | None, typer.Argument(metavar="PROPERTY", help="Property file (.vnnlib).")
    ] = None,
    instances: Annotated[
        Path | None,
        typer.Option(
            help="A VNN-COMP instances CSV (onnx,vnnlib,timeout; or a header naming them, "
            "with expected, family and other tools' <tool>_s times): run every row.",
            rich_help_panel=BATCH,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder of --instances (rerun: resume).", rich_help_panel=BATCH),
    ] = None,
    executor: Annotated[str, typer.Option(help="local or dask.", rich_help_panel=BATCH)] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="dask scheduler address (default: a LocalCluster).", rich_help_panel=BATCH
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Instances at once (default: the cores).", rich_help_panel=BATCH),
    ] = None,
    timeout_scale: Annotated[
        float,
        typer.Option(
            help="Multiply every row's timeout.", callback=refuse_nan, rich_help_panel=BATCH
        ),
    ] = 1.0,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", help="No progress on stderr (branch and bound, the batch)."),
    ] = False,
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
            help="auto (default): input for boxes of at most 32 inputs, activation for "
            "wider ones; input (alias bab): branch and bound over input boxes, the solver only "
            "where splitting stops paying; activation: PGD, then branch and bound over ReLU "
            "splits with optimised linear bounds (alpha/beta-CROWN); milp: bounds, then one "
            "solver call per case. Exact solvers (z3, cvc5) always take milp."
        ),
    ] = "auto",
) -> None:
    """Verify NETWORK against PROPERTY.

    The first line printed is the verdict in VNN-LIB's sense: `sat` (the property is violated;
    a replayed counterexample follows), `unsat` (it holds), `timeout` or `unknown`.
    With --instances CSV --out DIR: every row of a benchmark, each in its own process.
    """
    if instances is not None or out is not None:
        with user_errors():
            if network is not None or property_file is not None or result_file is not None:
                raise InputError("--instances runs a CSV's rows: no NETWORK, PROPERTY or --result")
            if instances is None or out is None:
                raise InputError("--instances and --out go together")
            forwarded = ["--solver", solver, "--seed", str(seed), "--strategy", strategy]
            for pair in solver_option or []:
                forwarded += ["--solver-option", pair]
            code = _batch(instances, out, executor, scheduler, workers, timeout_scale, quiet,
                          forwarded)  # fmt: skip
        raise typer.Exit(code)
    if network is None or property_file is None:
        with user_errors():
            missing = "NETWORK" if network is None else "PROPERTY"
            raise InputError(f"Missing argument '{missing}' (or give --instances CSV --out DIR)")
    from nnv.core.plugin.options import parse_pairs
    from nnv.core.plugin.registry import default_registry
    from nnv.core.runtime.clock import process_age
    from nnv.core.runtime.files import write_text_atomic
    from nnv.core.verify.verifier import Verifier

    with user_errors():
        registry = default_registry()
        chosen = registry.solver(solver, **parse_pairs(solver_option or [], "solver"))
        net = registry.load_network(network)
        prop = registry.load_property(property_file)
        prop.check_fits(net.n_inputs, net.n_outputs)
        # the timeout is the user's whole wait: start-up and loading count, and the exit
        left = None if timeout is None else max(0.0, timeout - process_age() - EXIT_RESERVE)
        verifier = Verifier(
            chosen, timeout=left, seed=seed, events=registry.hook, strategy=strategy
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
        cases = {"bab": "input boxes", "activation": "activation-split domains"}
        typer.echo(
            f"holds: {result.proved_by_bounds} of {result.subproblems} "
            f"{cases.get(result.extra.get('strategy', ''), 'cases')} by bounds, "
            f"{result.proved_by_solver} by {result.solver} ({how})"
        )
    elif result.message:
        typer.echo(result.message)
    if "proved_fraction" in result.extra:
        share = proved_share(result.extra["proved_fraction"])
        typer.echo(f"proved before the timeout: {share} of the region's volume")
    names = {"bab": "input branch and bound", "activation": "activation branch and bound"}
    strategy = result.extra.get("strategy", "milp")
    typer.echo(f"strategy: {names.get(strategy, strategy)} ({result.extra.get('chosen_by', '')})")
    typer.echo(f"time: {result.seconds:.3f} s")


def _batch(
    instances: Path,
    out: Path,
    executor: str,
    scheduler: str | None,
    workers: int | None,
    timeout_scale: float,
    quiet: bool,
    forwarded: list[str],
) -> int:
    from nnv.core.plugin.executor import default_workers

    from .batch_command import run_batch

    count = workers if workers is not None else default_workers()
    return run_batch(instances, out, executor, scheduler, count, timeout_scale, quiet, forwarded)
