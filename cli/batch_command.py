"""``nnv verify --instances CSV --out DIR``: a whole benchmark, one process per instance.

Everything the user gave is checked first (the CSV, its files, the options); only then is
DIR written: a VNN-COMP result file per instance in ``DIR/results/``, ``DIR/results.csv``
rewritten after every instance, and at the end ``DIR/cactus.png``. A rerun with the same DIR
takes the rows whose inputs are unchanged from results.csv (a ``sat`` only when its
counterexample replays again) and runs the rest.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nnv.core.errors import InputError, NnvError
from nnv.core.plugin.registry import Registry, default_registry
from nnv.core.run.batch import (
    RESULTS_FOLDER,
    InstanceJob,
    Record,
    check,
    counterexample,
    make_record,
    read_records,
    write_records,
)
from nnv.core.run.fingerprint import engine_version, library_versions
from nnv.core.run.instances import Instance, InstanceKeys, InstanceTable, read_instances
from nnv.core.runtime.files import write_text_atomic
from nnv.core.verify.verifier import replay

from .batch_pool import DaskPool, LocalPool, make_pool
from .cactus import batch_cactus

CACTUS_FILE = "cactus.png"
_Todo = tuple[Instance, str, str]  # the instance, its key, its result file (relative to DIR)


def run_batch(
    instances: Path,
    out: Path,
    executor: str,
    scheduler: str | None,
    workers: int,
    timeout_scale: float,
    quiet: bool,
    options: Sequence[str],
) -> int:
    """Run the CSV's instances into ``out``; the exit code: 1 if a verdict is wrong, else 0."""
    table = read_instances(instances, timeout_scale)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: not a folder")
    registry = default_registry()
    _check_loaders(table, registry)
    keys = InstanceKeys(options, json.dumps([engine_version(), library_versions()]))
    resumed, todo = _plan(table, out, keys, registry)
    pool = make_pool(executor, workers, scheduler)  # after every check: DIR is still as it was
    console = Console()
    if resumed:
        console.print(f"resumed {len(resumed)} rows from {out / 'results.csv'}")
    try:
        records = _run(todo, pool, out, resumed, options, quiet)
    finally:
        pool.close()
    _summary(console, records, table)
    batch_cactus(records, table, out / CACTUS_FILE)
    wrong = [record for record in records if record.check == "wrong"]
    if wrong:
        console.print(f"[bold red]{len(wrong)} WRONG verdicts (exit code 1):[/]")
        for r in wrong:
            where = f"line {r.line}: {r.network} {r.property}"
            console.print(f"[red]  {where}: {r.verdict}, expected {r.expected}[/]")
    console.print(f"results: {out / 'results.csv'}, cactus plot: {out / CACTUS_FILE}")
    return 1 if wrong else 0


def _check_loaders(table: InstanceTable, registry: Registry) -> None:
    """Refuse a file no installed loader reads (a ``.gz``, say) before anything runs."""
    suffixes: dict[str, set[str]] = {"network-loader": set(), "property-loader": set()}
    for info in registry.all():
        if info.kind in suffixes:
            suffixes[info.kind].update(info.factory.suffixes)
    for instance in table.instances:
        files = (("network-loader", instance.network), ("property-loader", instance.prop))
        for kind, path in files:
            if path.suffix.lower() not in suffixes[kind]:
                known = ", ".join(sorted(suffixes[kind]))
                raise InputError(
                    f"{table.path} line {instance.line}: {path}: no {kind} for "
                    f"{path.suffix or 'files without a suffix'!r} (known: {known})"
                )


def _plan(
    table: InstanceTable, out: Path, keys: InstanceKeys, registry: Registry
) -> tuple[list[Record], list[_Todo]]:
    """The rows an earlier run of the same inputs finished (still valid), and the rest."""
    earlier = read_records(out)
    names = Counter(instance.name for instance in table.instances)
    resumed: list[Record] = []
    todo: list[_Todo] = []
    for instance in table.instances:
        key = keys.key(instance)
        unique = instance.name if names[instance.name] == 1 else f"{instance.name}__{instance.line}"
        result_file = f"{RESULTS_FOLDER}/{unique}.txt"
        record = earlier.get(key)
        if record is not None and _still_valid(record, instance, out / result_file, registry):
            record.line, record.result_file = instance.line, result_file
            record.expected = instance.expected or ""
            record.check = check(record.verdict, instance.expected)
            resumed.append(record)
        else:
            todo.append((instance, key, result_file))
    return resumed, todo


def _still_valid(record: Record, instance: Instance, result: Path, registry: Registry) -> bool:
    """Whether a stored row may be reused: its result file says the same verdict and, for
    ``sat``, its counterexample replays on the network now."""
    try:
        text = result.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if text.split("\n", 1)[0].strip() != record.verdict:
        return False
    if record.verdict != "sat":
        return True
    point = counterexample(text)
    try:
        network = registry.load_network(instance.network)
        prop = registry.load_property(instance.prop)
    except NnvError:
        return False
    if point is None or point.shape != (network.n_inputs,):
        return False
    return replay(network, prop, point) is not None


def _run(
    todo: list[_Todo],
    pool: LocalPool | DaskPool,
    out: Path,
    resumed: list[Record],
    options: Sequence[str],
    quiet: bool,
) -> list[Record]:
    """Run the rows left; write each result file and results.csv as each row ends."""
    records = list(resumed)
    jobs = [
        InstanceJob(str(i.network.resolve()), str(i.prop.resolve()), i.timeout, tuple(options))
        for i, _, _ in todo
    ]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[counts]}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), disable=quiet) as progress:
        total = len(resumed) + len(todo)
        task = progress.add_task("instances", total=total, completed=len(resumed), counts="")
        for index, outcome in pool.run(jobs):
            instance, key, result_file = todo[index]
            write_text_atomic(out / result_file, outcome.text)
            records.append(make_record(instance, key, outcome, result_file))
            write_records(out, records)
            counts = Counter(record.verdict for record in records)
            text = " ".join(f"{verdict} {n}" for verdict, n in sorted(counts.items()))
            progress.update(task, advance=1, counts=text)
    if not todo:
        write_records(out, records)  # rows read back in the CSV's current order
    return records


def _summary(console: Console, records: list[Record], table: InstanceTable) -> None:
    """Counts per verdict and per check, by family when the CSV names families."""
    groups: dict[str, list[Record]] = {}
    if table.has_family:
        for record in records:
            groups.setdefault(record.family or "-", []).append(record)
    groups["all"] = records
    summary = Table(title="nnv verify --instances")
    for column in ("family", "rows", "sat", "unsat", "timeout", "other", "right", "wrong",
                   "median s"):  # fmt: skip
        summary.add_column(column, justify="left" if column == "family" else "right")
    for name, rows in groups.items():
        verdicts = Counter(record.verdict for record in rows)
        checks = Counter(record.check for record in rows)
        solved = [record.time for record in rows if record.check != "wrong"
                  and record.verdict in ("sat", "unsat")]  # fmt: skip
        other = len(rows) - verdicts["sat"] - verdicts["unsat"] - verdicts["timeout"]
        wrong = f"[bold red]{checks['wrong']}[/]" if checks["wrong"] else "0"
        median = f"{statistics.median(solved):.2f}" if solved else "-"
        summary.add_row(name, str(len(rows)), str(verdicts["sat"]), str(verdicts["unsat"]),
                        str(verdicts["timeout"]), str(other), str(checks["right"]), wrong,
                        median)  # fmt: skip
    console.print(summary)
