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


def _conv_bn(x, filters: int, kernel: int = 3):
    from keras import layers  # noqa: PLC0415

    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def _fast_cnn():
    """Downsample early so most convolutions run at 14x14 and 7x7, where a 2-core CPU is quick."""
    import keras  # noqa: PLC0415
    from keras import layers  # noqa: PLC0415

    inputs = keras.Input(shape=INPUT_SHAPE)
    x = _conv_bn(inputs, 32)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn(x, 64)
    x = _conv_bn(x, 64)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn(x, 128)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="fast_cnn")


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
            "Conv-BN-ReLU blocks with early pooling: most work at 14x14 and 7x7, global average pooling.",
            _fast_cnn,
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
