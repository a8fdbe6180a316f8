"""What a training run tells its listener, and what train() returns: plain data, no TensorFlow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..runs import RunInfo, RunStatus

HISTORY_KEYS = (
    "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "train_seconds", "cpu_seconds", "learning_rate"
)  # plus whatever extra callbacks add (benchmarks: "test_accuracy" and the "monitor_*" lists)


@dataclass(frozen=True)
class TrainingStarted:
    run_id: str
    epochs: int
    steps_per_epoch: int
    initial_epoch: int


@dataclass(frozen=True)
class RenderProgress:
    """Photo renders of training images being made before the first batch (config.photo_renders)."""

    run_id: str
    done: int
    total: int
    elapsed_seconds: float
    already_done: int = 0  # how many came from the cache (they take no time)

    @property
    def eta_seconds(self) -> float | None:
        made = self.done - self.already_done
        if made <= 0 or self.elapsed_seconds <= 0:
            return None
        return (self.total - self.done) * self.elapsed_seconds / made


@dataclass(frozen=True)
class BatchProgress:
    epoch: int  # 1-based
    batch: int  # 1-based, within the epoch
    steps_per_epoch: int
    loss: float  # Keras' mean over this epoch's batches so far
    accuracy: float
    elapsed_seconds: float
    # Seconds left, validation passes and the final evaluation and save included; None while the first
    # batches (which include tracing the model) leave too little to go on ("estimating").
    eta_seconds: float | None
    # Smoothed per-batch training loss and accuracy (an exponential average over the last ~10 batches,
    # across epoch boundaries), for the live curves from the first batches on.
    running_loss: float = float("nan")
    running_accuracy: float = float("nan")

    @property
    def epochs_done(self) -> float:
        """Fractional epochs trained, e.g. 1.25 a quarter into the second epoch."""
        return self.epoch - 1 + self.batch / max(1, self.steps_per_epoch)


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    metrics: dict[str, float]
    history: dict[str, list[float]]


@dataclass(frozen=True)
class TrainingFinished:
    run_id: str
    status: RunStatus
    test_accuracy: float | None
    error: str | None = None


TrainingEvent = RenderProgress | TrainingStarted | BatchProgress | EpochEnd | TrainingFinished
Listener = Callable[[TrainingEvent], None]


@dataclass
class TrainingResult:
    run: RunInfo
    status: RunStatus
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float | None:
        return self.run.test_accuracy
