"""Pure helpers (no TensorFlow): percentiles, medians and time-to-threshold from a training history."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def median(values: Sequence[float]) -> float:
    values = sorted(float(v) for v in values)
    if not values:
        return math.nan
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    values = sorted(float(v) for v in values)
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    pos = (len(values) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


def steady_values(values: Sequence[float]) -> list[float]:
    """The epochs after the first (which carries graph tracing); all of them when there is only one."""
    values = [float(v) for v in values]
    return values[1:] if len(values) > 1 else values


@dataclass(frozen=True)
class ThresholdTime:
    """When a run first reached an accuracy, in cumulative training-only seconds."""

    threshold: float
    reached: bool
    epoch: float | None  # epochs of training (fractional for a mid-epoch checkpoint) when first reached
    seconds: float  # cumulative train_seconds up to that point, or over all epochs when not reached
    epochs_run: int
    images: float | None = None  # training images processed up to that point (None: not recorded)

    def describe(self) -> str:
        if self.reached:
            epoch = f"{self.epoch:.0f}" if float(self.epoch).is_integer() else f"{self.epoch:.2f}"
            return f"{self.seconds:.1f} s (epoch {epoch})"
        return f"not reached in {self.epochs_run} epochs (> {self.seconds:.1f} s)"


def time_to_threshold(
    val_accuracy: Sequence[float], train_seconds: Sequence[float], threshold: float = 0.86
) -> ThresholdTime:
    """Cumulative training-only seconds up to the first epoch whose val_accuracy >= threshold."""
    if len(val_accuracy) != len(train_seconds):
        raise ValueError("val_accuracy and train_seconds must have one value per epoch")
    total = 0.0
    for index, (accuracy, seconds) in enumerate(zip(val_accuracy, train_seconds)):
        total += float(seconds)
        if float(accuracy) >= threshold:
            return ThresholdTime(threshold, True, index + 1, total, len(val_accuracy))
    return ThresholdTime(threshold, False, None, total, len(val_accuracy))


def time_to_threshold_checkpoints(
    accuracies: Sequence[float],
    clock_seconds: Sequence[float],
    epochs: Sequence[float],
    threshold: float = 0.86,
    *,
    epochs_run: int,
    total_seconds: float,
    images: Sequence[float] | None = None,
    total_images: float | None = None,
) -> ThresholdTime:
    """The training clock (and the training images processed, when given) at the first test checkpoint
    (mid-epoch or epoch-end) at >= threshold; when never reached, the whole run's."""
    if not len(accuracies) == len(clock_seconds) == len(epochs):
        raise ValueError("checkpoint accuracies, seconds and epochs must have one value per checkpoint")
    if images is not None and len(images) != len(accuracies):
        raise ValueError("checkpoint images must have one value per checkpoint")
    for index, (accuracy, seconds, epoch) in enumerate(zip(accuracies, clock_seconds, epochs)):
        if float(accuracy) >= threshold:
            seen = float(images[index]) if images is not None else None
            return ThresholdTime(threshold, True, float(epoch), float(seconds), epochs_run, seen)
    return ThresholdTime(threshold, False, None, float(total_seconds), epochs_run, total_images)


@dataclass(frozen=True)
class SpeedupRatio:
    """How many times sooner `fast` reached the threshold than `slow`; a bound when one never did."""

    value: float | None
    kind: str  # "exact", "lower_bound", "upper_bound" or "unknown"

    def describe(self) -> str:
        if self.value is None:
            return "unknown (neither run reached the threshold)"
        prefix = {"exact": "", "lower_bound": ">= ", "upper_bound": "<= "}[self.kind]
        return f"{prefix}{self.value:.1f} x"


def speedup(slow: ThresholdTime, fast: ThresholdTime) -> SpeedupRatio:
    if fast.seconds <= 0:
        return SpeedupRatio(None, "unknown")
    if slow.reached and fast.reached:
        return SpeedupRatio(slow.seconds / fast.seconds, "exact")
    if fast.reached:  # the slow run took longer than all its epochs
        return SpeedupRatio(slow.seconds / fast.seconds, "lower_bound")
    if slow.reached:  # the fast run took longer than all its epochs
        return SpeedupRatio(slow.seconds / fast.seconds, "upper_bound")
    return SpeedupRatio(None, "unknown")


def training_tflop(multiply_adds: int, images: float) -> float:
    """Training compute in TFLOP (issue #17): images x multiply-adds per image x 2 FLOP x 3 (forward and
    backward). A count of work, not of time: the same on every machine."""
    return 3.0 * 2.0 * float(multiply_adds) * float(images) / 1e12


def training_flops_per_second(multiply_adds: int, images_per_second: float) -> float:
    """Forward + backward is counted as 3x the forward pass; one multiply-add is 2 FLOPs."""
    return 3.0 * 2.0 * float(multiply_adds) * float(images_per_second)
