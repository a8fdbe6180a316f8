"""What a training run tells its listener, and what train() returns: plain data, no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..runs import RunInfo

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
class BatchProgress:
    epoch: int  # 1-based
    batch: int  # 1-based, within the epoch
    steps_per_epoch: int
    loss: float
    accuracy: float
    elapsed_seconds: float
    eta_seconds: float


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    metrics: dict[str, float]
    history: dict[str, list[float]]


@dataclass(frozen=True)
class TrainingFinished:
    run_id: str
    status: str
    test_accuracy: float | None
    error: str | None = None


TrainingEvent = TrainingStarted | BatchProgress | EpochEnd | TrainingFinished
Listener = Callable[[TrainingEvent], None]


@dataclass
class TrainingResult:
    run: RunInfo
    status: str
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float | None:
        return self.run.test_accuracy
