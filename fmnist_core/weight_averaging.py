"""The weight average, kept by the optimizer inside the compiled training step.

Every run validates and saves an exponential moving average of its weights (training.callbacks.WeightAverage
puts it into the model when the model is evaluated). Updating it from a callback after each batch cost a
call into TensorFlow per step, about 0.8 ms against a 40-65 ms step of the default recipe on a 2-core AVX2
CPU, a larger share on any faster device (docs/compute.md); inside the step it is a few array operations.
The optimizer is the public place for per-step state in Keras: its `build` creates slot variables
(`add_variable`) and `apply` updates the weights, so the average is checkpointed with the optimizer.

Keras' own `use_ema` applies its full momentum from the second step, so at 0.99 the average still held
half the random initial weights after 70 steps (an evaluation a quarter epoch in saw them); it cannot
grow the momentum with the step as TensorFlow's ExponentialMovingAverage(num_updates=...) does. Hence
these subclasses, registered so a checkpoint loads in safe mode (a saved model loads without them when
compile=False, as the take-away snippets do).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import ops


def ema_momentum_at(momentum: float, step, minimum=min):
    """The average's momentum after optimizer step `step` (0-based): min(momentum, (1 + t) / (10 + t)),
    the rule of TensorFlow's ExponentialMovingAverage(num_updates=...). Inside the training step `step`
    is a tensor and `minimum` is keras.ops.minimum."""
    return minimum(momentum, (1.0 + step) / (10.0 + step))


@dataclass(frozen=True)
class AveragePairs:
    """The trained variables and their averages, in one order. A plain holder: an optimizer tracks the
    variables in list attributes as its own state, and the model's weights must not become part of it."""

    variables: tuple
    averages: tuple


class WeightAveraging:
    """Mixin for a Keras optimizer: after each update, average <- m * average + (1 - m) * weight, with m
    from ema_momentum_at (computed in float64, then float32, as a Python float constant would be).
    average_momentum 0 keeps no average."""

    def __init__(self, *args, average_momentum: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not 0.0 <= average_momentum < 1.0:
            raise ValueError(f"average_momentum must be in [0, 1), got {average_momentum}")
        self.average_momentum = float(average_momentum)
        self.average_pairs = AveragePairs((), ())

    def build(self, variables) -> None:
        super().build(variables)
        if not self.average_momentum:
            return
        variables = tuple(variables)
        averages = tuple(
            # Starts from the weights training starts from (on loading, the saved average replaces it).
            self.add_variable(
                shape=variable.shape,
                dtype=variable.dtype,
                initializer=_copy_of(variable),
                aggregation="only_first_replica",  # every replica holds the same weights after an update
                name=f"{variable.path.replace('/', '_')}_weight_average",
            )
            for variable in variables
        )
        self.average_pairs = AveragePairs(variables, averages)

    def apply(self, grads, trainable_variables=None) -> None:
        step = ops.cast(self.iterations, "float64")  # this update's 0-based step, read before it counts
        super().apply(grads, trainable_variables)
        if not self.average_pairs.averages:
            return
        momentum = ops.cast(ema_momentum_at(self.average_momentum, step, ops.minimum), "float32")
        for variable, average in zip(self.average_pairs.variables, self.average_pairs.averages):
            average.assign(momentum * average + (1.0 - momentum) * variable)

    def get_config(self) -> dict:
        return {**super().get_config(), "average_momentum": self.average_momentum}


def _copy_of(variable):
    def initializer(shape, dtype=None):
        return ops.cast(ops.convert_to_tensor(variable), dtype or variable.dtype)

    return initializer


@keras.saving.register_keras_serializable(package="fmnist_core")
class AveragingAdam(WeightAveraging, keras.optimizers.Adam):
    """Adam keeping the weight average (WeightAveraging)."""


@keras.saving.register_keras_serializable(package="fmnist_core")
class AveragingAdamW(WeightAveraging, keras.optimizers.AdamW):
    """AdamW keeping the weight average (WeightAveraging)."""


@keras.saving.register_keras_serializable(package="fmnist_core")
class AveragingSGD(WeightAveraging, keras.optimizers.SGD):
    """SGD keeping the weight average (WeightAveraging)."""
