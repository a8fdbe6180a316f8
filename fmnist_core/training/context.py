"""What a run shares with the callbacks it is given (train(..., callbacks=[factory, ...]))."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import TrainConfig
from ..data import Dataset

if TYPE_CHECKING:
    from .callbacks import WeightAverage


class TrainingClock:
    """Wall and CPU time of the current epoch, without the work callbacks do off the clock (a benchmark's
    test-set checks), so training speed figures measure training only."""

    def __init__(self) -> None:
        self.start_epoch()

    def start_epoch(self) -> None:
        self.epoch_wall = time.perf_counter()
        self.epoch_cpu = time.process_time()
        self.paused_wall = self.paused_cpu = 0.0
        self.train_seconds = 0.0  # this epoch's training alone: the clock at its last batch's end

    def batch_done(self) -> float:
        """Called by the run's progress callback after each batch; returns train_seconds."""
        self.train_seconds = self.seconds()
        return self.train_seconds

    @contextmanager
    def paused(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.paused_wall += time.perf_counter() - wall
            self.paused_cpu += time.process_time() - cpu

    def seconds(self) -> float:
        """Wall seconds of this epoch so far, pauses excluded."""
        return time.perf_counter() - self.epoch_wall - self.paused_wall

    def cpu_seconds(self) -> float:
        return time.process_time() - self.epoch_cpu - self.paused_cpu


@dataclass
class TrainingContext:
    """Handed to each callback factory. `epoch_metrics` is emptied at every epoch start; what a callback
    puts in it by its own on_epoch_end is recorded in the epoch's metrics and the run's history."""

    config: TrainConfig
    dataset: Dataset
    steps_per_epoch: int
    history: dict[str, list[float]]
    clock: TrainingClock
    weights: WeightAverage
    train_images: int = 0  # training images per epoch (benchmarks count the compute spent from it)
    epoch_metrics: dict[str, float] = field(default_factory=dict)


# A factory builds one Keras callback for a run from its context; callbacks run in the order given, after
# the weight average and before the run's own progress and checkpoint callback.
CallbackFactory = Callable[[TrainingContext], Any]
