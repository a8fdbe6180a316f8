"""The Keras callbacks every run uses: the weight average it validates and saves, and its progress and
checkpoints. Imports Keras: only the run loop imports this module, inside train()/resume()."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import keras
import numpy as np

from ..runs import CHECKPOINT_FILE, HISTORY_FILE, RunInfo, RunStore, atomic_save_model, atomic_write_json
from ..weight_averaging import AveragePairs
from .batchnorm import recalibrate_batch_norm
from .context import TrainingClock
from .events import BatchProgress, EpochEnd, Listener


class WeightAverage(keras.callbacks.Callback):
    """Puts the optimizer's weight average (fmnist_core.weight_averaging, updated inside each training
    step), with batch-norm statistics computed for it, into the model whenever the model is evaluated:
    each validation pass, each epoch end (so checkpoints hold it), and after training (so the saved model
    is it). The raw weights come back at the next epoch's start. An optimizer that keeps no average
    (momentum 0, or a checkpoint saved before the average moved into the optimizer) has the model's own
    weights evaluated, still with their batch-norm statistics recomputed.
    """

    def __init__(self, calibration_images: np.ndarray) -> None:
        super().__init__()
        self.calibration_images = calibration_images
        self._raw: list[np.ndarray] | None = None  # the raw weights while the average is in the model
        self._calibrated_step: int | None = None  # the optimizer step the batch-norm statistics are for

    def _pairs(self) -> AveragePairs:
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under a loss-scale wrapper (float16)
        return getattr(optimizer, "average_pairs", AveragePairs((), ()))

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.use_raw()

    def on_test_begin(self, logs=None) -> None:
        self.use_averaged()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.use_averaged()

    def use_averaged(self) -> None:
        """The averaged weights (or, without an average, the model's own) with their own batch-norm
        statistics in the model."""
        pairs = self._pairs()
        if pairs.averages and self._raw is None:
            self._raw = [np.asarray(v.numpy()) for v in pairs.variables]
            for variable, average in zip(pairs.variables, pairs.averages):
                variable.assign(average)
        step = int(self.model.optimizer.iterations.numpy())
        if step != self._calibrated_step:  # trained since: the weights, and so their statistics, changed
            recalibrate_batch_norm(self.model, self.calibration_images)
            self._calibrated_step = step

    def use_raw(self) -> None:
        """The weights the optimizer trains, back in the model (training continues from them)."""
        if self._raw is not None:
            for variable, value in zip(self._pairs().variables, self._raw):
                variable.assign(value)
            self._raw = None

    @contextmanager
    def evaluated(self) -> Iterator[None]:
        """The weights a validation would see, in the model for the duration (benchmark test checks)."""
        was_raw = self._raw is None
        self.use_averaged()
        try:
            yield
        finally:
            if was_raw:
                self.use_raw()


class RunningMean:
    """An exponential average of per-batch values recovered from Keras' within-epoch means, bias-corrected
    so the first batches count fully (the smoothing TensorBoard applies to its curves)."""

    def __init__(self, beta: float = 0.9) -> None:
        self.beta = beta
        self.value = 0.0
        self.count = 0
        self.previous_mean = 0.0

    def start_epoch(self) -> None:
        self.previous_mean = 0.0

    def add(self, epoch_mean: float, batch_index: int) -> float:
        """batch_index is 0-based in the epoch; epoch_mean is Keras' mean over batches 0..batch_index."""
        if not math.isfinite(epoch_mean):
            return math.nan
        batch_value = (batch_index + 1) * epoch_mean - batch_index * self.previous_mean
        self.previous_mean = epoch_mean
        self.value = self.beta * self.value + (1.0 - self.beta) * batch_value
        self.count += 1
        return self.value / (1.0 - self.beta**self.count)


class TimeLeft:
    """Seconds left in a run: the batches still to train at the measured rate (the first batch, which
    traces the model, excluded), plus every validation pass still due and the final evaluation and save.
    Before a validation pass has been timed, those are guessed from the training rate: a forward pass
    costs about a third of a training step per image."""

    # The estimate is given ("estimating" before) once at least MIN_BATCHES are timed and either
    # MIN_SECONDS have passed or ENOUGH_BATCHES are timed: a fast machine may finish a short epoch
    # within a second, and its last batches must still say how long the evaluation will take.
    MIN_BATCHES, MIN_SECONDS, ENOUGH_BATCHES = 3, 1.0, 20

    def __init__(self, *, batch_size: int, validation_images: int, test_images: int) -> None:
        self.batch_size, self.validation_images, self.test_images = batch_size, validation_images, test_images
        self.first_batch_end: float | None = None
        self.batches_timed = 0
        self.epoch_overhead: float | None = None  # seconds from an epoch's last batch to its checkpoint

    def batch_done(self, now: float) -> None:
        if self.first_batch_end is None:
            self.first_batch_end = now
        else:
            self.batches_timed += 1

    def seconds(self, now: float, batches_left: int, validations_left: int) -> float | None:
        if self.first_batch_end is None or self.batches_timed < self.MIN_BATCHES:
            return None
        if now - self.first_batch_end < self.MIN_SECONDS and self.batches_timed < self.ENOUGH_BATCHES:
            return None
        per_batch = (now - self.first_batch_end) / self.batches_timed
        per_image_forward = per_batch / self.batch_size / 3.0
        validation = (self.epoch_overhead if self.epoch_overhead is not None
                      else per_image_forward * self.validation_images + 0.5)
        final = per_image_forward * self.test_images + 1.0  # the evaluation of the saved model, and saving it
        return per_batch * max(0, batches_left) + validation * max(0, validations_left) + final


class ProgressCallback(keras.callbacks.Callback):
    """Streams batch and epoch progress, honours stop requests, records timings and checkpoints every
    completed epoch (after the weight average is in the model)."""

    def __init__(
        self,
        *,
        store: RunStore,
        run: RunInfo,
        history: dict[str, list[float]],
        steps_per_epoch: int,
        total_epochs: int,
        clock: TrainingClock,
        epoch_metrics: dict[str, float],
        time_left: TimeLeft,
        listener: Listener | None = None,
        stop_event: threading.Event | None = None,
        report_every_s: float = 0.2,
    ) -> None:
        super().__init__()
        self.store, self.run, self.history = store, run, history
        self.steps_per_epoch, self.total_epochs = steps_per_epoch, total_epochs
        self.clock, self.epoch_metrics, self.time_left = clock, epoch_metrics, time_left
        self.listener, self.stop_event, self.report_every_s = listener, stop_event, report_every_s
        self.stopped = False
        self.train_start = time.perf_counter()
        self.last_report = 0.0
        self.epoch = 0
        self.epoch_train_seconds = 0.0
        self.last_batch_end = self.train_start
        self.running_loss, self.running_accuracy = RunningMean(), RunningMean()

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.epoch = epoch
        self.clock.start_epoch()
        self.epoch_metrics.clear()
        self.running_loss.start_epoch()
        self.running_accuracy.start_epoch()

    def on_train_batch_end(self, batch, logs=None) -> None:
        now = self.last_batch_end = time.perf_counter()
        self.time_left.batch_done(now)
        self.epoch_train_seconds = self.clock.batch_done()  # training alone, for throughput figures
        logs = logs or {}
        loss, accuracy = float(logs.get("loss", math.nan)), float(logs.get("accuracy", math.nan))
        running_loss = self.running_loss.add(loss, batch)
        running_accuracy = self.running_accuracy.add(accuracy, batch)
        if self.model.stop_training or (self.stop_event is not None and self.stop_event.is_set()):
            self.model.stop_training = True  # another callback (a benchmark's race) may have asked first
            self.stopped = True
        last_batch = batch + 1 >= self.steps_per_epoch
        too_soon = now - self.last_report < self.report_every_s
        if self.listener is None or (too_soon and not last_batch and not self.stopped):
            return
        self.last_report = now
        batches_left = (self.total_epochs - self.epoch) * self.steps_per_epoch - (batch + 1)
        validations_left = 0 if self.stopped else self.total_epochs - self.epoch
        self.listener(
            BatchProgress(
                epoch=self.epoch + 1,
                batch=batch + 1,
                steps_per_epoch=self.steps_per_epoch,
                loss=loss,
                accuracy=accuracy,
                elapsed_seconds=now - self.train_start,
                eta_seconds=self.time_left.seconds(now, 0 if self.stopped else batches_left, validations_left),
                running_loss=running_loss,
                running_accuracy=running_accuracy,
            )
        )

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.stopped:  # a partial epoch is not a completed one
            return
        logs = logs or {}
        metrics = {key: float(logs[key]) for key in ("loss", "accuracy", "val_loss", "val_accuracy") if key in logs}
        metrics["seconds"] = self.clock.seconds()
        metrics["train_seconds"] = self.epoch_train_seconds
        metrics["cpu_seconds"] = self.clock.cpu_seconds()
        metrics["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
        metrics.update(self.epoch_metrics)
        for key, value in metrics.items():
            self.history.setdefault(key, []).append(value)
        run = self.run
        run.update(checkpoint_sha256=atomic_save_model(self.model, run.path / CHECKPOINT_FILE))
        atomic_write_json(run.path / HISTORY_FILE, self.history)
        run.update(epochs_completed=epoch + 1)
        self.store.write_meta(run)
        # Validation, batch-norm statistics and checkpoint: what each later epoch will cost beyond training.
        self.time_left.epoch_overhead = time.perf_counter() - self.last_batch_end
        if self.listener is not None:
            history = {k: list(v) for k, v in self.history.items()}
            self.listener(EpochEnd(epoch=epoch + 1, metrics=metrics, history=history))
