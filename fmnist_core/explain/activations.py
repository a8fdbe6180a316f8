"""Every convolution, pooling and dense activation of one image from a single forward pass.

One multi-output Keras model per loaded model is built once, wrapped in a traced tf.function and
cached (weakly keyed by the model), so a page re-render costs one forward pass. A convolution's
"stage" shows the output after the layers that follow it element-wise (batch norm, ReLU): that is
what the next layer sees. For a mirror-averaging model the stages are the plain view's, and the
probabilities are the model's own (averaged over both views).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import INPUT_SHAPE
from .layers import LayerKind, classify_layer, unwrap_mirror
from .per_model import PerModelCache

# Element-wise layers that belong to the convolution (or dense layer) right before them.
_FOLLOWERS = (LayerKind.NORM, LayerKind.ACTIVATION)


@dataclass(frozen=True)
class StageSpec:
    """One shown stage: the layer that opens it, the layers folded into it, and its kind."""

    name: str
    layer_names: tuple[str, ...]
    kind: LayerKind
    is_output: bool = False


@dataclass(frozen=True)
class Stage:
    spec: StageSpec
    values: np.ndarray  # (H, W, C) for maps, (units,) for vectors; float32

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_map(self) -> bool:
        return self.values.ndim == 3


@dataclass(frozen=True)
class Activations:
    stages: tuple[Stage, ...]
    probabilities: np.ndarray  # (10,) the model's own output

    def maps(self) -> list[Stage]:
        return [s for s in self.stages if s.is_map and s.spec.kind in (LayerKind.CONV, LayerKind.POOL)]

    def vectors(self) -> list[Stage]:
        return [s for s in self.stages if not s.is_map and not s.spec.is_output]

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r}; stages: {', '.join(s.name for s in self.stages)}")


@dataclass(frozen=True)
class Graph:
    """A single-view model's top-level layers, each with the symbolic tensor it outputs."""

    inputs: Any
    layers: tuple[Any, ...]
    tensors: tuple[Any, ...]
    output: Any
    linear: bool


def model_graph(core) -> Graph:
    """The layers and their output tensors. A Sequential model is called once more on a fresh Input,
    because a loaded Sequential's layer.output belongs to a graph its own outputs are not part of."""
    import keras

    if isinstance(core, keras.Sequential):
        inputs = keras.Input(shape=INPUT_SHAPE)
        x = inputs
        layers, tensors = [], []
        for layer in core.layers:
            x = layer(x)
            layers.append(layer)
            tensors.append(x)
        return Graph(inputs, tuple(layers), tuple(tensors), x, True)
    layers = tuple(layer for layer in core.layers if type(layer).__name__ != "InputLayer")
    return Graph(core.inputs, layers, tuple(layer.output for layer in layers), core.outputs[0], False)


def stage_specs(core, graph: Graph | None = None) -> tuple[list[StageSpec], list[Any]]:
    """Stages of a single-view model's top level, and the tensor each one ends with."""
    graph = graph or model_graph(core)
    layers, outs = graph.layers, graph.tensors
    specs: list[StageSpec] = []
    tensors: list[Any] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        kind, _ = classify_layer(layer)
        if getattr(layer, "layers", None):  # a nested model: shown as one stage by its output
            kind = LayerKind.CONV if len(outs[i].shape) == 4 else LayerKind.DENSE
        if kind in (LayerKind.CONV, LayerKind.POOL, LayerKind.GLOBAL_POOL, LayerKind.DENSE):
            names = [layer.name]
            tensor = outs[i]
            j = i + 1
            while (j < len(layers) and classify_layer(layers[j])[0] in _FOLLOWERS
                   and (graph.linear or layers[j].input is tensor)):
                names.append(layers[j].name)
                tensor = outs[j]
                j += 1
            specs.append(StageSpec(layer.name, tuple(names), kind))
            tensors.append(tensor)
            i = j
        else:
            i += 1
    if specs and tensors[-1] is graph.output:
        specs[-1] = StageSpec(specs[-1].name, specs[-1].layer_names, specs[-1].kind, is_output=True)
    return specs, tensors


class ActivationProbe:
    """A loaded model's stages as one compiled multi-output function (thread-safe, reusable)."""

    def __init__(self, model) -> None:
        import keras
        import tensorflow as tf

        self.model = model
        self.core, self.mirrored = unwrap_mirror(model)
        graph = model_graph(self.core)
        self.specs, tensors = stage_specs(self.core, graph)
        self._multi = keras.Model(graph.inputs, [*tensors, graph.output], name=f"{self.core.name}_probe")
        spec = tf.TensorSpec(shape=(None, *INPUT_SHAPE), dtype=tf.float32)
        multi, full, specs = self._multi, model, self.specs

        @tf.function(input_signature=[spec])
        def forward(x):
            outs = multi(x, training=False)
            probs = full(x, training=False) if self.mirrored else outs[-1]
            return [tf.cast(o, tf.float32) for o in outs[:-1]], tf.cast(probs, tf.float32)

        map_indices = [k for k, s in enumerate(specs) if s.kind == LayerKind.CONV and len(tensors[k].shape) == 4]
        self.conv_stage_names = [specs[k].name for k in map_indices]

        @tf.function(input_signature=[spec])
        def channel_maxima(x):
            outs = multi(x, training=False)
            return [tf.reduce_max(tf.cast(outs[k], tf.float32), axis=(1, 2)) for k in map_indices]

        self._forward = forward
        self._channel_maxima = channel_maxima

    def run(self, image: np.ndarray) -> Activations:
        """Stages and probabilities for one image: (28,28) or (28,28,1) floats in [0,1]."""
        x = _as_batch(image)
        outs, probs = self._forward(x)
        stages = tuple(Stage(spec, np.asarray(o)[0]) for spec, o in zip(self.specs, outs))
        return Activations(stages, np.asarray(probs)[0])

    def channel_maxima(self, images: np.ndarray) -> list[np.ndarray]:
        """Per conv stage, each image's strongest response per channel: (N, C) arrays."""
        return [np.asarray(m) for m in self._channel_maxima(np.asarray(images, np.float32))]


def _as_batch(image: np.ndarray) -> np.ndarray:
    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 2:
        x = x[..., np.newaxis]
    if x.ndim == 3:
        x = x[np.newaxis]
    if x.shape[1:] != INPUT_SHAPE:
        raise ValueError(f"expected a 28x28 image, got shape {np.asarray(image).shape}")
    return x


_PROBES: PerModelCache[ActivationProbe] = PerModelCache(ActivationProbe)


def probe_for(model) -> ActivationProbe:
    """The model's probe, built on first use and kept as long as the model lives."""
    return _PROBES(model)


def activations(model, image: np.ndarray) -> Activations:
    """All stages of one image (28x28 floats in [0,1]) through the model."""
    return probe_for(model).run(image)


def most_active_channels(values: np.ndarray, count: int | None = None) -> np.ndarray:
    """Channel indices of an (H,W,C) map, strongest mean activation first."""
    strength = np.asarray(values, np.float32).reshape(-1, values.shape[-1]).mean(axis=0)
    order = np.argsort(-strength, kind="stable")
    return order if count is None else order[: max(0, int(count))]
