"""Benchmarks only: the test accuracy recorded while a recipe trains, with the checks kept off the clock.

Given to fmnist_core.training.train(..., callbacks=[TestMonitor(...)]): a factory of one Keras callback.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from fmnist_core.evaluation import predict_probabilities
from fmnist_core.training import TrainingContext


@dataclass(frozen=True)
class TestMonitor:
    """After every epoch, and every `every_images` training images until the accuracy first reaches
    `until_accuracy` (a count of images, not of steps, so recipes with different batch sizes are checked
    at the same points). History gains "test_accuracy" per epoch and the parallel lists "monitor_epochs"
    (fractional), "monitor_seconds" (training clock) and "monitor_test_accuracy". No recipe is tuned on
    these figures.
    """

    __test__ = False  # not a pytest test class

    every_images: int | None = None
    until_accuracy: float | None = None
    # End the run (status "stopped") at the first check that reaches until_accuracy: a race to it.
    stop_when_reached: bool = False

    def __call__(self, context: TrainingContext) -> TestClock:
        return TestClock(self, context)


class TestClock(keras.callbacks.Callback):
    """Test-set checkpoints on the run's training clock, which stops while the model is evaluated."""

    def __init__(self, monitor: TestMonitor, context: TrainingContext) -> None:
        super().__init__()
        self.monitor, self.context = monitor, context
        self.images, self.labels = self.context.dataset.x_test, self.context.dataset.y_test
        # The seed recipe validates on the test set: its epoch-end validation accuracy is the test accuracy.
        self.test_is_validation = self.context.config.validation == "test"
        every = self.monitor.every_images
        self.every_steps = max(1, round(every / self.context.config.batch_size)) if every else 0
        self.reached = False
        self.clock_base = float(sum(self.context.history.get("train_seconds", [])))
        self.steps_done = 0
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.clock_base = float(sum(self.context.history.get("train_seconds", [])))  # completed epochs

    def on_train_batch_end(self, batch, logs=None):
        self.steps_done += 1
        due = (bool(self.every_steps) and not self.reached and self.steps_done % self.every_steps == 0
               and batch + 1 < self.context.steps_per_epoch)  # the epoch's last step is the epoch-end check
        if not due:
            return
        self.checkpoint(self.epoch + (batch + 1) / self.context.steps_per_epoch, self.context.clock.seconds())
        if self.reached and self.monitor.stop_when_reached:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:
            return  # a partial epoch (stopped): no epoch-end figure
        known = (logs or {}).get("val_accuracy") if self.test_is_validation else None
        # Training alone: the clock as it stood after the epoch's last batch.
        self.context.epoch_metrics["test_accuracy"] = self.checkpoint(
            epoch + 1, self.context.clock.train_seconds, known)

    def checkpoint(self, epoch: float, epoch_train_seconds: float, accuracy: float | None = None) -> float:
        with self.context.clock.paused():
            if accuracy is None:
                with self.context.weights.evaluated():
                    probabilities = predict_probabilities(self.model, self.images)
                accuracy = float((probabilities.argmax(axis=1) == self.labels).mean())
            for key, value in (("monitor_epochs", epoch), ("monitor_seconds", self.clock_base + epoch_train_seconds),
                               ("monitor_test_accuracy", accuracy)):
                self.context.history.setdefault(key, []).append(float(value))
            if self.monitor.until_accuracy is not None and accuracy >= self.monitor.until_accuracy:
                self.reached = True
        return accuracy
