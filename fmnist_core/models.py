"""Architectures by name, each with its size and cost, so users can compare them fairly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .constants import INPUT_SHAPE, NUM_CLASSES
from .errors import UnknownArchitectureError


@dataclass(frozen=True)
class Architecture:
    name: str
    title: str
    description: str
    build: Callable[[], Any]  # returns an uncompiled keras.Model with softmax output


def _seed_cnn():
    """The seed report's model: two conv/pool/dropout blocks, dense 128, softmax."""
    from keras import layers, Sequential  # noqa: PLC0415

    return Sequential(
        [
            layers.Input(shape=INPUT_SHAPE),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32"),
        ],
        name="seed_cnn",
    )


def _conv_bn(x, filters: int):
    """Conv-BN-ReLU. BN momentum 0.9 (Keras' default is 0.99): the moving statistics then keep up
    with a fast schedule, so test accuracy is right after the first epoch instead of at chance."""
    from keras import layers  # noqa: PLC0415

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.ReLU()(x)


def _pooled_cnn(
    name: str, widths: tuple[tuple[int, ...], ...], dropout: float = 0.0, stem_batch_norm: bool = True
):
    """Conv-BN-ReLU stages separated by 2x2 max-pooling, then global average pooling and softmax.

    Pooling right after the first stage keeps most multiply-adds at 14x14 and 7x7, where a 2-core
    CPU runs them as large, efficient matrix products. Without `stem_batch_norm` the first stage's 28x28
    layers are plain convs with bias and ReLU: batch norm there is memory-bound work on the largest
    activations, and dropping it made fast_cnn's training step about 20% faster (65 -> 50 ms).
    """
    import keras  # noqa: PLC0415
    from keras import layers  # noqa: PLC0415

    inputs = keras.Input(shape=INPUT_SHAPE)
    x = inputs
    for stage, filters in enumerate(widths):
        if stage:
            x = layers.MaxPooling2D(2)(x)
        for width in filters:
            if stage == 0 and not stem_batch_norm:
                x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
            else:
                x = _conv_bn(x, width)
    x = layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    x = layers.Dense(NUM_CLASSES)(x)
    outputs = layers.Activation("softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def _fast_cnn():
    return _pooled_cnn("fast_cnn", ((32,), (64,), (128, 128)), stem_batch_norm=False)


def _wide_cnn():
    return _pooled_cnn("wide_cnn", ((32,), (64, 64), (128, 128)), dropout=0.2)


def _large_cnn():
    return _pooled_cnn("large_cnn", ((32, 32), (96, 96), (192, 192)), dropout=0.2, stem_batch_norm=False)


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture(
            "seed_cnn",
            "Seed report CNN",
            "The original recipe: 2 conv layers with max-pooling and dropout, dense 128, softmax.",
            _seed_cnn,
        ),
        Architecture(
            "fast_cnn",
            "Fast CNN (batch norm)",
            "A conv-ReLU stem (32) and 3 Conv-BN-ReLU layers (64, 128, 128) with early pooling: most work "
            "at 14x14 and 7x7, global average pooling. The default: accuracy per second on a 2-core CPU.",
            _fast_cnn,
        ),
        Architecture(
            "wide_cnn",
            "Wide CNN (batch norm)",
            "5 Conv-BN-ReLU layers (32, 64, 64, 128, 128) with early pooling and dropout.",
            _wide_cnn,
        ),
        Architecture(
            "large_cnn",
            "Large CNN (batch norm)",
            "Two conv-ReLU layers at full 28x28 resolution (32, 32), then 4 Conv-BN-ReLU layers (96, 96 at "
            "14x14; 192, 192 at 7x7), dropout: the 'best' preset, about 3.6x the default's multiply-adds.",
            _large_cnn,
        ),
    )
}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise UnknownArchitectureError(f"unknown architecture {name!r}; choose one of: {known}") from None


def build_model(name: str):
    """A fresh, uncompiled model of the named architecture."""
    return get_architecture(name).build()


def multiply_adds(model) -> int:
    """Multiply-adds of one forward pass of one image, from conv and dense layers (the bulk of the cost)."""
    from keras import layers  # noqa: PLC0415

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


@dataclass(frozen=True)
class ModelSummary:
    name: str
    title: str
    description: str
    parameters: int
    multiply_adds: int


def describe(name: str) -> ModelSummary:
    """Parameter count and multiply-adds per image, for the model picker and the benchmark."""
    arch = get_architecture(name)
    model = arch.build()
    return ModelSummary(arch.name, arch.title, arch.description, int(model.count_params()), multiply_adds(model))
