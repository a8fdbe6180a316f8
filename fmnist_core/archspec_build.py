"""Architecture specification -> Keras model, and the cost of a built model.

The only module that turns specifications into Keras layers; it imports Keras at the top, so light
modules (the registry in ``models``, the page's live table in ``archspec``) never load TensorFlow.
Every layer it creates is a standard Keras layer with plain settings, so a saved model loads with
``safe_mode=True`` and holds no code.
"""

from __future__ import annotations

import time

import keras
import numpy as np
from keras import layers

from .archspec import (
    Activation,
    ArchitectureSpec,
    AvgPool,
    BatchNorm,
    Conv,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Layer,
    MaxPool,
    layer_table,
    validate,
)
from .constants import INPUT_SHAPE, NUM_CLASSES


def _activation(name: str) -> str | None:
    return None if name == "linear" else name


def keras_layer(layer: Layer, name: str) -> keras.layers.Layer:
    """The standard Keras layer for one specification layer."""
    if isinstance(layer, Conv):
        return layers.Conv2D(layer.filters, layer.kernel, strides=layer.stride, padding=layer.padding,
                             activation=_activation(layer.activation), use_bias=layer.bias, name=name)
    if isinstance(layer, BatchNorm):
        return layers.BatchNormalization(momentum=layer.momentum, name=name)
    if isinstance(layer, Activation):
        return layers.Activation(layer.function, name=name)
    if isinstance(layer, MaxPool):
        return layers.MaxPooling2D(layer.size, strides=layer.step, padding=layer.padding, name=name)
    if isinstance(layer, AvgPool):
        return layers.AveragePooling2D(layer.size, strides=layer.step, padding=layer.padding, name=name)
    if isinstance(layer, Dropout):
        return layers.Dropout(layer.rate, name=name)
    if isinstance(layer, Flatten):
        return layers.Flatten(name=name)
    if isinstance(layer, GlobalAvgPool):
        return layers.GlobalAveragePooling2D(name=name)
    if isinstance(layer, Dense):
        return layers.Dense(layer.units, activation=_activation(layer.activation), name=name)
    raise TypeError(f"no Keras layer for {type(layer).__name__}")  # unreachable after validate()


def build_model_from_spec(spec: ArchitectureSpec) -> keras.Model:
    """A fresh, uncompiled model: input 28x28x1, the spec's layers, then dense 10 and a float32 softmax.

    Validated first, so an impossible network fails with ArchitectureSpecError naming its layer,
    never inside Keras. The softmax runs in float32 under a mixed-precision policy.
    """
    validate(spec)
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = inputs
    for index, layer in enumerate(spec.layers):
        x = keras_layer(layer, f"{index + 1:02d}_{layer.kind}")(x)
    x = layers.Dense(NUM_CLASSES, name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="softmax")(x)
    return keras.Model(inputs, outputs, name=spec.name)


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one forward pass of one image, from conv and dense layers (the bulk of the cost)."""
    total = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            _, oh, ow, oc = layer.output.shape
            total += oh * ow * oc * kh * kw
        elif isinstance(layer, layers.Conv2D):
            kh, kw = layer.kernel_size
            in_ch = layer.input.shape[-1]
            _, oh, ow, oc = layer.output.shape
            total += oh * ow * oc * kh * kw * in_ch // layer.groups
        elif isinstance(layer, layers.Dense):
            total += int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
    return int(total)


def _leaf_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _leaf_layers(layer)
        else:
            yield layer


def measure_throughput(spec: ArchitectureSpec, *, batch_size: int = 128, steps: int = 6) -> float:
    """Training multiply-adds per second on this machine: a few float32 train steps on random data.

    Counted as 3 x the forward multiply-adds per image (forward, and the two products of the
    backward pass); the first step (tracing) is not timed. Used for the builder's rough epoch time.
    """
    model = build_model_from_spec(spec)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)  # not inside the first traced step (build_compiled_model)
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, *INPUT_SHAPE), dtype=np.float32)
    y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, batch_size)]
    model.train_on_batch(x, y)
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    seconds = time.perf_counter() - started
    return 3.0 * layer_table(spec).multiply_adds * batch_size * steps / max(seconds, 1e-9)
