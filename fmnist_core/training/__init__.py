"""Training, by concern: `pipeline` (tf.data), `optimizer` (schedule, optimizer, compiled model),
`hardware` (mixed precision, GPUs, versions), `batchnorm` (statistics for the evaluated weights),
`callbacks` (the weight average, kept by the optimizer of fmnist_core.weight_averaging, into the model
for evaluation; progress and checkpoints; imports Keras), `context` (what extra callbacks
get), `events` (what a listener hears) and `loop` (train/resume). Importing this package does not
import TensorFlow; training does.
"""

from __future__ import annotations

from .context import CallbackFactory, TrainingClock, TrainingContext
from .events import (
    HISTORY_KEYS,
    BatchProgress,
    EpochEnd,
    Listener,
    RenderProgress,
    TrainingEvent,
    TrainingFinished,
    TrainingResult,
    TrainingStarted,
)
from .hardware import distribution_strategy, mixed_precision_policy, package_versions
from .loop import FitOptions, resume, train, training_lock
from .optimizer import build_compiled_model, effective_ema_momentum, learning_rate_schedule, make_optimizer
from .pipeline import make_dataset, prepare_data

__all__ = [
    "HISTORY_KEYS", "BatchProgress", "CallbackFactory", "EpochEnd", "FitOptions", "Listener", "RenderProgress",
    "TrainingClock",
    "TrainingContext", "TrainingEvent", "TrainingFinished", "TrainingResult", "TrainingStarted",
    "build_compiled_model", "distribution_strategy", "effective_ema_momentum",
    "learning_rate_schedule", "make_dataset", "make_optimizer", "mixed_precision_policy", "package_versions",
    "prepare_data", "resume", "train", "training_lock",
]
