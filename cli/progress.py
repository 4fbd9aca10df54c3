"""Progress on stderr for the long commands: shown only on a terminal, never with --quiet.

``nnv verify``'s branch-and-bound line listens to the ``nnv_verification_progress`` event
(a plugin object registered for the one command) and appears only once the verification has
run for a second, so quick answers print nothing but the verdict.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from nnv.core.plugin.hookspecs import hookimpl
from nnv.core.plugin.registry import Registry

SHOW_AFTER = 1.0  # seconds: a verification quicker than this shows no progress


def progress_console(quiet: bool) -> Console:
    """stderr, quiet when asked (rich then draws nothing at all)."""
    return Console(stderr=True, quiet=quiet)


def showing(console: Console) -> bool:
    return console.is_terminal and not console.quiet


class BabProgress:
    """A live line while branch and bound runs: open boxes, boxes bounded and proved, time."""

    def __init__(self, registry: Registry, quiet: bool) -> None:
        self.registry = registry
        console = progress_console(quiet)
        self.enabled = showing(console)
        self.progress = Progress(
            SpinnerColumn("line"),  # ASCII: drawn by any font, screenshots included
            TextColumn("branch and bound"),
            TextColumn("{task.fields[open]} boxes open, {task.fields[boxes]} bounded,"),
            TextColumn("{task.fields[settled]} proved"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("bab", total=None, open=0, boxes=0, settled=0)
        self.started = False

    def __enter__(self) -> BabProgress:
        if self.enabled:
            self.registry.manager.register(self, name="nnv-verify-progress")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            self.registry.manager.unregister(self)
        if self.started:
            self.progress.stop()

    @hookimpl
    def nnv_verification_progress(
        self, open_boxes: int, boxes: int, settled: int, seconds: float
    ) -> None:
        if seconds < SHOW_AFTER:
            return
        if not self.started:
            self.progress.start()
            self.started = True
        self.progress.update(self.task, open=open_boxes, boxes=boxes, settled=settled)
