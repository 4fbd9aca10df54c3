"""Progress on stderr for the long commands: shown only on a terminal, never with --quiet.

``nnv verify``'s branch-and-bound line listens to the ``nnv_verification_progress`` event
(a plugin object registered for the one command) and appears only once the verification has
run for a second, so quick answers print nothing but the verdict, and never import rich
(a few hundredths of a second of their start-up).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from nnv.core.plugin.hookspecs import hookimpl
from nnv.core.plugin.registry import Registry

if TYPE_CHECKING:
    from rich.console import Console

SHOW_AFTER = 1.0  # seconds: a verification quicker than this shows no progress


def progress_console(quiet: bool) -> Console:
    """stderr, quiet when asked (rich then draws nothing at all)."""
    from rich.console import Console

    return Console(stderr=True, quiet=quiet)


def showing(console: Console) -> bool:
    return console.is_terminal and not console.quiet


class BabProgress:
    """A live line while branch and bound runs: open boxes, boxes bounded and proved, time.
    The line (and rich) is set up at the first event after ``SHOW_AFTER`` seconds."""

    def __init__(self, registry: Registry, quiet: bool) -> None:
        self.registry = registry
        self.enabled = not quiet
        self.hidden = False  # stderr is not a terminal: events are ignored
        self.progress: Any = None  # rich's Progress, once shown
        self.task: Any = None

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
        if self.progress is not None:
            self.progress.stop()

    def _start(self) -> None:
        """The live line on stderr, if stderr is a terminal (else no event is drawn)."""
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = progress_console(quiet=False)
        if not showing(console):
            self.hidden = True
            return
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
        self.progress.start()

    @hookimpl
    def nnv_verification_progress(
        self, open_boxes: int, boxes: int, settled: int, seconds: float
    ) -> None:
        if seconds < SHOW_AFTER or self.hidden:
            return
        if self.progress is None:
            self._start()
        if self.progress is not None:
            self.progress.update(self.task, open=open_boxes, boxes=boxes, settled=settled)
