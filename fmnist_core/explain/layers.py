"""The layer stack of any model, found by walking its layers (never a hard-coded list).

Totals equal ``model.count_params()`` and ``fmnist_core.models.multiply_adds(model)``: the same
leaf layers are counted with the same rule, so the table and the registry can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class LayerKind(StrEnum):
    """What a layer does, coarsely: decides how the page draws its output."""

    CONV = "convolution"
    POOL = "pooling"
    GLOBAL_POOL = "global pooling"
    DENSE = "dense"
    NORM = "normalisation"
    ACTIVATION = "activation"
    DROPOUT = "dropout"
    RESHAPE = "reshape"
    AUGMENT = "augmentation"
    MERGE = "merge"
    OTHER = "other"


@dataclass(frozen=True)
class LayerRow:
    """One leaf layer: its place, type, output shape (without the batch axis), size and cost."""

    index: int
    name: str
    path: str  # "mirror_average/fast_cnn/conv2d" for nested layers
    type: str
    kind: LayerKind
    output_shape: tuple[int, ...] | None
    parameters: int
    multiply_adds: int
    role: str
    depth: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "path": self.path,
            "type": self.type,
            "kind": self.kind.value,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "parameters": self.parameters,
            "multiply_adds": self.multiply_adds,
            "role": self.role,
        }


@dataclass(frozen=True)
class LayerTable:
    model_name: str
    rows: tuple[LayerRow, ...]
    mirror_averaged: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total_parameters(self) -> int:
        return sum(row.parameters for row in self.rows)

    @property
    def total_multiply_adds(self) -> int:
        return sum(row.multiply_adds for row in self.rows)


def unwrap_mirror(model) -> tuple[Any, bool]:
    """The model that computes one view, and whether predictions average it with the mirror image."""
    from ..mirror import MirrorAverage  # imports Keras

    for layer in model.layers:
        if isinstance(layer, MirrorAverage):
            return layer.backbone, True
    return model, False


def _is_container(layer) -> bool:
    return bool(getattr(layer, "layers", None))


def iter_leaves(model, prefix: str = "", depth: int = 0) -> Iterator[tuple[Any, str, int]]:
    """Every leaf layer (recursing into nested models and wrappers), with its path and depth."""
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        if _is_container(layer):
            yield from iter_leaves(layer, path + "/", depth + 1)
        else:
            yield layer, path, depth


def output_shape(layer) -> tuple[int, ...] | None:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return None
    return tuple(int(d) for d in shape[1:] if d is not None)


def layer_multiply_adds(layer) -> int:
    """Multiply-adds of one forward pass of one image (conv and dense only, as in models.multiply_adds)."""
    from keras import layers

    if isinstance(layer, layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        _, oh, ow, oc = layer.output.shape
        return int(oh * ow * oc * kh * kw)
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        in_ch = layer.input.shape[-1]
        _, oh, ow, oc = layer.output.shape
        return int(oh * ow * oc * kh * kw * in_ch // layer.groups)
    if isinstance(layer, layers.Dense):
        return int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
    return 0


def _activation_name(layer) -> str:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", "linear") if act is not None else "linear"


def _activation_suffix(name: str) -> str:
    return {"relu": ", then ReLU", "softmax": ", then softmax (probabilities)", "linear": ""}.get(
        name, f", then {name}"
    )


def classify_layer(layer) -> tuple[LayerKind, str]:
    """The layer's kind and a one-line plain-language role."""
    from keras import layers

    name = type(layer).__name__
    if isinstance(layer, layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return LayerKind.CONV, f"{kh}x{kw} depthwise convolution: one filter per channel" + _activation_suffix(
            _activation_name(layer))
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        stride = f", stride {layer.strides[0]}" if max(layer.strides) > 1 else ""
        return LayerKind.CONV, f"{kh}x{kw} convolution: {layer.filters} feature maps{stride}" + _activation_suffix(
            _activation_name(layer))
    if isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D)):
        how = "max" if isinstance(layer, layers.MaxPooling2D) else "average"
        ph, pw = layer.pool_size
        effect = "halves width and height" if (ph, pw) == (2, 2) else f"shrinks by {ph}x{pw}"
        return LayerKind.POOL, f"{how} pooling: {effect}"
    if isinstance(layer, (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D)):
        how = "average" if isinstance(layer, layers.GlobalAveragePooling2D) else "max"
        return LayerKind.GLOBAL_POOL, f"global {how} pooling: one number per feature map"
    if isinstance(layer, layers.Dense):
        act = _activation_name(layer)
        return LayerKind.DENSE, (f"dense: {layer.units} units, each a weighted sum of all "
                                 f"{int(layer.kernel.shape[0])} inputs" + _activation_suffix(act))
    if isinstance(layer, (layers.BatchNormalization, layers.LayerNormalization)):
        return LayerKind.NORM, "batch normalisation: rescales each channel to a steady range"
    if isinstance(layer, layers.ReLU):
        return LayerKind.ACTIVATION, "ReLU: keeps positive values, sets negatives to zero"
    if isinstance(layer, layers.Activation):
        act = _activation_name(layer)
        if act == "softmax":
            return LayerKind.ACTIVATION, "softmax: turns the ten scores into probabilities that sum to 1"
        if act == "relu":
            return LayerKind.ACTIVATION, "ReLU: keeps positive values, sets negatives to zero"
        return LayerKind.ACTIVATION, f"{act} activation"
    if isinstance(layer, (layers.Dropout, layers.SpatialDropout2D, layers.GaussianNoise)):
        rate = getattr(layer, "rate", None)
        share = f" (drops {rate:.0%} of values)" if rate is not None else ""
        return LayerKind.DROPOUT, f"dropout: active only in training{share}"
    if isinstance(layer, layers.Flatten):
        return LayerKind.RESHAPE, "flatten: lays the maps out as one long vector"
    if isinstance(layer, layers.Reshape):
        return LayerKind.RESHAPE, "reshape: same numbers, new layout"
    if name.startswith("Random"):
        return LayerKind.AUGMENT, "augmentation: active only in training"
    if isinstance(layer, (layers.Add, layers.Concatenate, layers.Multiply, layers.Average)):
        return LayerKind.MERGE, f"{name.lower()}: combines the outputs of earlier layers"
    return LayerKind.OTHER, name


def layer_table(model) -> LayerTable:
    """Every leaf layer in order with type, output shape, parameters, multiply-adds and role."""
    from keras import layers

    _, mirrored = unwrap_mirror(model)
    rows = []
    for layer, path, depth in iter_leaves(model):
        if isinstance(layer, layers.InputLayer):
            continue
        kind, role = classify_layer(layer)
        rows.append(LayerRow(
            index=len(rows), name=layer.name, path=path, type=type(layer).__name__, kind=kind,
            output_shape=output_shape(layer), parameters=int(layer.count_params()),
            multiply_adds=layer_multiply_adds(layer), role=role, depth=depth,
        ))
    notes = ()
    if mirrored:
        notes = ("Mirror averaging: every prediction runs these layers on the image and on its mirror image and "
                 "averages the two, so inference costs twice the multiply-adds shown (counted once, as the "
                 "registry does).",)
    return LayerTable(model.name, tuple(rows), mirrored, notes)
