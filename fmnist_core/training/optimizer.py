"""The compiled model: architecture, learning-rate schedule, optimizer, loss and metric of a config."""

from __future__ import annotations

from ..config import TrainConfig
from .hardware import mixed_precision_policy


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    from ..schedules import WarmupCosine

    if config.schedule == "constant":
        return config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)
    initial = config.learning_rate * 0.1 if warmup else config.learning_rate
    return WarmupCosine(initial, config.learning_rate, warmup, total - warmup, alpha=0.01)


def effective_ema_momentum(momentum: float, total_steps: int) -> float:
    """Cap the weight average's horizon (about 1 / (1 - momentum) steps) at a tenth of the run, so a short
    run (a 1-epoch try on a subset) averages its own trained weights, not its random initial ones."""
    horizon = total_steps / 10
    if not momentum or horizon <= 1:
        return 0.0
    return min(momentum, 1.0 - 1.0 / horizon)


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """The config's optimizer with its schedule, keeping the weight average inside each training step
    (fmnist_core.weight_averaging: a warm-up Keras' own `use_ema` cannot express)."""
    from ..weight_averaging import AveragingAdam, AveragingAdamW, AveragingSGD

    lr = learning_rate_schedule(config, steps_per_epoch)
    average = effective_ema_momentum(config.ema_momentum, config.epochs * steps_per_epoch)
    if config.optimizer == "adam":
        return AveragingAdam(lr, average_momentum=average)
    if config.optimizer == "adamw":
        return AveragingAdamW(lr, weight_decay=config.weight_decay, average_momentum=average)
    return AveragingSGD(lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay or None,
                        average_momentum=average)


def build_compiled_model(config: TrainConfig, steps_per_epoch: int):
    """A fresh model of the config's architecture (mixed precision where native), compiled, its optimizer built.

    Building the optimizer here, not in the first training step: without a distribution strategy Keras'
    TensorFlow trainer builds it while tracing that step, so its slot variables (3 per weight with the
    average) are created inside the traced function. TensorFlow then guards each one's initialiser with a
    `cond` and traces the step a second time: 4.8 s before the first two batches of the default recipe
    against 2.1 s built here, with bitwise the same training (docs/compute.md, session 11)."""
    import keras

    from ..archspec_build import build_model_from_spec

    previous_policy = keras.mixed_precision.dtype_policy()
    policy = mixed_precision_policy() if config.mixed_precision else None
    if policy:
        keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = build_model_from_spec(config.resolved_architecture_spec())
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)
    if config.mirror_averaging:
        from ..mirror import mirror_averaged

        model = mirror_averaged(model)  # float32 policy: the average of two float32 softmax outputs
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    model.optimizer.build(model.trainable_variables)
    return model
