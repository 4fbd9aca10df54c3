"""``nnv train``'s progress on stderr (on a terminal, not with --quiet), drawn from the typed
events a trainer sends (:data:`~nnv.core.plugin.trainer.TrainEvent`): one line per stage.

- ``epoch``: a bar of epoch i/N, the train and validation losses, the largest violation the
  counterexample searches found that epoch, the counterexamples found in it and the
  projections so far;
- ``projections``: the rounds after training (counterexample found, projected away) until
  none is left;
- ``certifying``: the checks of the exported file (the proof, the sampled inputs).

A stage's line stops its clock when the next one starts; the last stops when training returns.
"""

from __future__ import annotations

from types import TracebackType

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from nnv.core.plugin.trainer import ClosingRound, EpochRecord, PhaseStarted, TrainEvent

from .progress import progress_console, showing

BAR_WIDTH = 24  # the whole line fits 120 columns


class TrainProgress:
    """The live lines of one ``nnv train`` run; call it with each event."""

    def __init__(self, epochs: int, quiet: bool) -> None:
        console = progress_console(quiet)
        self.progress = Progress(
            TextColumn("{task.description:<11}"),
            BarColumn(bar_width=BAR_WIDTH),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            disable=not showing(console),
        )
        self.epochs = epochs
        self.current: TaskID | None = None
        self.epoch_task: TaskID | None = None
        self.last_epoch = 0

    def __enter__(self) -> TrainProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish()
        self.progress.stop()

    def __call__(self, event: TrainEvent) -> None:
        if isinstance(event, EpochRecord):
            self._epoch(event)
        elif isinstance(event, ClosingRound):
            self._closing(event)
        elif isinstance(event, PhaseStarted):
            self._start(event)

    def _epoch(self, record: EpochRecord) -> None:
        if self.epoch_task is None:
            self.epoch_task = self._begin("epoch", self.epochs)
        self.last_epoch = record.epoch
        self.progress.update(
            self.epoch_task,
            completed=record.epoch,
            count=f"{record.epoch}/{self.epochs}",
            info=(
                f"loss {record.train_loss:.4g}  val {record.val_loss:.4g}  violation "
                f"{record.violation:.3g}  counterexamples {record.counterexamples}  "
                f"projections {record.projections}"
            ),
        )

    def _start(self, phase: PhaseStarted) -> None:
        name = "projections" if phase.phase == "closing" else phase.phase
        self._begin(name, None, info=phase.detail)

    def _closing(self, step: ClosingRound) -> None:
        if self.current is None:
            return
        if step.converged:
            info = f"no counterexample left  projections {step.projections}"
        else:
            info = f"violation {step.violation:.3g}  projections {step.projections}"
        self.progress.update(self.current, count=f"round {step.round}", info=info)

    def _begin(self, name: str, total: int | None, info: str = "") -> TaskID:
        """A new stage's line (total None: a pulsing bar), the one before it stopped."""
        self._finish()
        self.current = self.progress.add_task(name, total=total, count="", info=info)
        return self.current

    def _finish(self) -> None:
        """Stop the current line's clock; an epoch bar that stopped early ends full (i/i)."""
        if self.current is None:
            return
        if self.current == self.epoch_task:
            done = max(self.last_epoch, 1)
            self.progress.update(
                self.current, total=done, completed=done, count=f"{self.last_epoch}/{self.epochs}"
            )
        else:
            self.progress.update(self.current, total=1, completed=1)
        self.current = None
