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
    at the same points); then, with `then_every_epochs`, every that fraction of an epoch until it first
    reaches `then_until_accuracy` (the coarser checks that time the later thresholds, 90% and 93%).
    History gains "test_accuracy" per epoch and the parallel lists "monitor_epochs" (fractional),
    "monitor_images" (training images processed so far: the compute figures count them), "monitor_seconds"
    (training clock) and "monitor_test_accuracy". No recipe is tuned on these figures.
    """

    __test__ = False  # not a pytest test class

    every_images: int | None = None
    until_accuracy: float | None = None
    # End the run (status "stopped") at the first check that reaches until_accuracy: a race to it.
    stop_when_reached: bool = False
    then_every_epochs: float | None = None
    then_until_accuracy: float | None = None

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
        then = self.monitor.then_every_epochs
        self.then_steps = max(1, round(then * self.context.steps_per_epoch)) if then else 0
        self.reached = False
        self.then_reached = self.monitor.then_until_accuracy is None
        self.clock_base = float(sum(self.context.history.get("train_seconds", [])))
        self.steps_done = 0
        self.epoch = 0
        self.epoch_images = 0  # training images of this epoch so far
        # Images per completed epoch (a resumed run's earlier epochs were full epochs of the same data).
        self.images_per_epoch = self.context.train_images

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_images = 0
        self.clock_base = float(sum(self.context.history.get("train_seconds", [])))  # completed epochs

    def _due(self, batch: int) -> bool:
        """Every `every_steps` steps of the run until the first target; then every `then_steps` steps of
        each epoch (quarter epochs: 0.25, 0.5, 0.75 of it) until the second."""
        if batch + 1 >= self.context.steps_per_epoch:
            return False  # the epoch's last step is the epoch-end check
        if not self.reached:
            return bool(self.every_steps) and self.steps_done % self.every_steps == 0
        return not self.then_reached and bool(self.then_steps) and (batch + 1) % self.then_steps == 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps_done += 1
        self.epoch_images = min(self.epoch_images + self.context.config.batch_size, self.images_per_epoch)
        if not self._due(batch):
            return
        self.checkpoint(self.epoch + (batch + 1) / self.context.steps_per_epoch, self.context.clock.seconds())
        if self.reached and self.monitor.stop_when_reached:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:
            return  # a partial epoch (stopped): no epoch-end figure
        known = (logs or {}).get("val_accuracy") if self.test_is_validation else None
        # Training alone: the clock as it stood after the epoch's last batch.
        self.epoch_images = self.images_per_epoch
        self.context.epoch_metrics["test_accuracy"] = self.checkpoint(
            epoch + 1, self.context.clock.train_seconds, known)

    def checkpoint(self, epoch: float, epoch_train_seconds: float, accuracy: float | None = None) -> float:
        with self.context.clock.paused():
            if accuracy is None:
                with self.context.weights.evaluated():
                    probabilities = predict_probabilities(self.model, self.images)
                accuracy = float((probabilities.argmax(axis=1) == self.labels).mean())
            images = self.epoch * self.images_per_epoch + self.epoch_images
            for key, value in (("monitor_epochs", epoch), ("monitor_images", images),
                               ("monitor_seconds", self.clock_base + epoch_train_seconds),
                               ("monitor_test_accuracy", accuracy)):
                self.context.history.setdefault(key, []).append(float(value))
            if self.monitor.until_accuracy is not None and accuracy >= self.monitor.until_accuracy:
                self.reached = True
            if self.reached and not self.then_reached and accuracy >= self.monitor.then_until_accuracy:
                self.then_reached = True
        return accuracy
