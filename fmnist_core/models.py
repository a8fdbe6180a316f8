"""The built-in architectures: light metadata (name, title, description) around a specification.

No TensorFlow here: sizes and costs come from the specification (``fmnist_core.archspec``), and
models are built by ``fmnist_core.archspec_build`` only when one is needed. A built-in network is
just a starting point: the builder page and ``arch show NAME --json`` start from these specs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .archspec import (
    Activation,
    ArchitectureSpec,
    BatchNorm,
    Conv,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Layer,
    MaxPool,
    layer_table,
)
from .errors import UnknownArchitectureError


@dataclass(frozen=True)
class Architecture:
    name: str
    title: str
    description: str
    spec: ArchitectureSpec

    def build(self) -> Any:
        """A fresh, uncompiled keras.Model with softmax output (imports Keras)."""
        from .archspec_build import build_model_from_spec  # the one heavy entry point

        return build_model_from_spec(self.spec)


def _seed_cnn() -> tuple[Layer, ...]:
    """The seed report's model: two conv/pool/dropout blocks, dense 128, dropout, softmax."""
    return (
        Conv(32, 3, padding="valid"), MaxPool(2), Dropout(0.25),
        Conv(64, 3, padding="valid"), MaxPool(2), Dropout(0.25),
        Flatten(), Dense(128), Dropout(0.5),
    )


def conv_bn_relu(filters: int, kernel: int = 3) -> tuple[Layer, ...]:
    """Conv (no bias: batch norm's offset replaces it), batch norm at momentum 0.9, ReLU."""
    return (Conv(filters, kernel, padding="same", activation="linear", bias=False), BatchNorm(0.9),
            Activation("relu"))


def _pooled_cnn(
    widths: tuple[tuple[int, ...], ...], dropout: float = 0.0, stem_batch_norm: bool = True
) -> tuple[Layer, ...]:
    """Conv-BN-ReLU stages separated by 2x2 max-pooling, then global average pooling (and dropout).

    Pooling right after the first stage keeps most multiply-adds at 14x14 and 7x7, where a 2-core
    CPU runs them as large, efficient matrix products. Without `stem_batch_norm` the first stage's 28x28
    layers are plain convs with bias and ReLU: batch norm there is memory-bound work on the largest
    activations, and dropping it made fast_cnn's training step about 20% faster (65 -> 50 ms).
    """
    out: list[Layer] = []
    for stage, filters in enumerate(widths):
        if stage:
            out.append(MaxPool(2))
        for width in filters:
            if stage == 0 and not stem_batch_norm:
                out.append(Conv(width, 3, padding="same", activation="relu"))
            else:
                out.extend(conv_bn_relu(width))
    out.append(GlobalAvgPool())
    if dropout:
        out.append(Dropout(dropout))
    return tuple(out)


def _architecture(name: str, title: str, description: str, layers: tuple[Layer, ...]) -> Architecture:
    return Architecture(name, title, description, ArchitectureSpec(name, layers, title, description))


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        _architecture(
            "seed_cnn",
            "Seed report CNN",
            "The original recipe: 2 conv layers with max-pooling and dropout, dense 128, softmax.",
            _seed_cnn(),
        ),
        _architecture(
            "fast_cnn",
            "Fast CNN (batch norm)",
            "A conv-ReLU stem (32) and 3 Conv-BN-ReLU layers (64, 128, 128) with early pooling: most work "
            "at 14x14 and 7x7, global average pooling (14.7M multiply-adds per image): the default until "
            "2026-12-06.",
            _pooled_cnn(((32,), (64,), (128, 128)), stem_batch_norm=False),
        ),
        _architecture(
            "lean_cnn",
            "Lean CNN (batch norm)",
            "A conv-ReLU stem (16) at 28x28, then Conv-BN-ReLU 32 at 14x14, 96 at 7x7 and 192, 192 at 3x3 "
            "after a third pooling, global average pooling: most weights where a multiply-add is cheapest "
            "(6.9M multiply-adds per image): 93% after 2.4-3.0x less training compute than fast_cnn (issue #17).",
            _pooled_cnn(((16,), (32,), (96,), (192, 192)), stem_batch_norm=False),
        ),
        _architecture(
            "slim_cnn",
            "Slim CNN (batch norm)",
            "A conv-ReLU stem (16) at 28x28, Conv-BN-ReLU 32 at 14x14 and 96 at 7x7, each after a 2x2 max-pool, "
            "then after a third pool a 3x3 Conv-BN-ReLU 192 and a 1x1 one (192) on the 3x3 map, global average "
            "pooling: the default (4.2M multiply-adds per image; 93% after about a third of fast_cnn's training "
            "compute, issue #17).",
            (Conv(16, 3, padding="same", activation="relu"), MaxPool(2), *conv_bn_relu(32), MaxPool(2),
             *conv_bn_relu(96), MaxPool(2), *conv_bn_relu(192), *conv_bn_relu(192, kernel=1), GlobalAvgPool()),
        ),
        _architecture(
            "lite_cnn",
            "Lite CNN (batch norm, dense head)",
            "A conv-ReLU stem (16) at 28x28, Conv-BN-ReLU 32 at 14x14 and 96 at 7x7, each after a 2x2 max-pool, "
            "then the 7x7 map flattened into a dense layer of 256 (dropout 0.2): most weights in the dense "
            "layer, one multiply-add each (3.6M multiply-adds per image): the least compute to 93% with one "
            "seed, 92.9% with another (issue #17).",
            (Conv(16, 3, padding="same", activation="relu"), MaxPool(2), *conv_bn_relu(32), MaxPool(2),
             *conv_bn_relu(96), Flatten(), Dense(256), Dropout(0.2)),
        ),
        _architecture(
            "wide_cnn",
            "Wide CNN (batch norm)",
            "5 Conv-BN-ReLU layers (32, 64, 64, 128, 128) with early pooling and dropout.",
            _pooled_cnn(((32,), (64, 64), (128, 128)), dropout=0.2),
        ),
        _architecture(
            "large_cnn",
            "Large CNN (batch norm)",
            "Two conv-ReLU layers at full 28x28 resolution (32, 32), then 4 Conv-BN-ReLU layers (96, 96 at "
            "14x14; 192, 192 at 7x7), dropout: the 'best' preset, 53.5M multiply-adds per image (13x the "
            "default's).",
            _pooled_cnn(((32, 32), (96, 96), (192, 192)), dropout=0.2, stem_batch_norm=False),
        ),
    )
}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise UnknownArchitectureError(f"unknown architecture {name!r}; choose one of: {known}") from None


def build_model(name: str) -> Any:
    """A fresh, uncompiled model of the named built-in architecture (imports Keras)."""
    return get_architecture(name).build()


def multiply_adds(model: Any) -> int:
    """Multiply-adds per image of a built Keras model (kept here for callers; the code is in archspec_build)."""
    from .archspec_build import multiply_adds as count

    return count(model)


@dataclass(frozen=True)
class ModelSummary:
    name: str
    title: str
    description: str
    parameters: int
    multiply_adds: int


def describe(name: str) -> ModelSummary:
    """Parameter count and multiply-adds per image, from the specification (no model is built)."""
    arch = get_architecture(name)
    table = layer_table(arch.spec)
    return ModelSummary(arch.name, arch.title, arch.description, table.parameters, table.multiply_adds)


@dataclass(frozen=True)
class Experiment:
    """A one-click starting point on the builder page: a change of the seed network and what to watch."""

    name: str
    title: str
    watch: str
    spec: ArchitectureSpec


def _seed_variant(name: str, title: str, layers: tuple[Layer, ...]) -> ArchitectureSpec:
    return ArchitectureSpec(name, layers, title, f"The seed report's network, {title.lower()}.")


_SEED = ARCHITECTURES["seed_cnn"].spec.layers
EXPERIMENTS: dict[str, Experiment] = {
    experiment.name: experiment
    for experiment in (
        Experiment(
            "seed_no_dropout",
            "Without dropout",
            "Watch training accuracy run ahead of validation accuracy: with nothing to stop it, the network "
            "starts memorising its training images.",
            _seed_variant("seed_no_dropout", "Without dropout",
                          tuple(layer for layer in _SEED if not isinstance(layer, Dropout))),
        ),
        Experiment(
            "seed_no_pooling",
            "Without pooling",
            "Watch the multiply-adds and the time per epoch: without pooling every layer works on the full-size "
            "map, and the dense layer gets a far longer vector.",
            _seed_variant("seed_no_pooling", "Without pooling",
                          tuple(layer for layer in _SEED if not isinstance(layer, MaxPool))),
        ),
        Experiment(
            "seed_batchnorm",
            "With batch normalisation",
            "Watch the first epoch: normalising each convolution's output usually makes early learning faster.",
            _seed_variant("seed_batchnorm", "With batch normalisation", tuple(
                part
                for layer in _SEED
                for part in (
                    (Conv(layer.filters, layer.kernel, padding=layer.padding, activation="linear", bias=False),
                     BatchNorm(0.9), Activation("relu"))
                    if isinstance(layer, Conv) else (layer,)
                )
            )),
        ),
    )
}
