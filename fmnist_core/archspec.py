"""An architecture is data: a versioned JSON specification of a CNN, its shapes and its cost.

Pure Python (no TensorFlow, no Streamlit), so the builder page's live table, the CLI's `arch show`
and the model picker are instant; ``fmnist_core.archspec_build`` turns a specification into a Keras
model made only of standard layers (so saved models load with ``safe_mode=True``).

The JSON format (version 1)::

    {"format": "fmnist-architecture", "version": 1, "name": "seed_cnn",
     "title": "...", "description": "...",
     "layers": [
       {"type": "conv", "filters": 32, "kernel": 3, "stride": 1, "padding": "valid",
        "activation": "relu", "bias": true},
       {"type": "batchnorm", "momentum": 0.9},
       {"type": "activation", "function": "relu"},
       {"type": "max_pool", "size": 2, "stride": 2, "padding": "valid"},   # or "avg_pool"
       {"type": "dropout", "rate": 0.25},
       {"type": "flatten"},                                               # or "global_avg_pool"
       {"type": "dense", "units": 128, "activation": "relu"}]}

The input (28x28x1) and the 10-way softmax output are added for the user: the last layer must give a
vector (after ``flatten``, ``global_avg_pool`` or ``dense``). A missing setting takes its default;
an unknown setting, layer type or value of the wrong type is refused. Parameter counts include batch
norm's moving statistics (as Keras' ``count_params``); multiply-adds count convolutions and dense
layers per image (the bulk of the cost), as ``archspec_build.multiply_adds`` does on a Keras model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from .constants import INPUT_SHAPE, NUM_CLASSES
from .errors import ArchitectureSpecError

SPEC_FORMAT = "fmnist-architecture"
SPEC_VERSION = 1

# Limits: a specification past any of them is refused with a message (uploads, files, the page).
MAX_LAYERS = 40
MAX_FILTERS = 1024
MAX_UNITS = 8192
MAX_KERNEL = 11
MAX_STRIDE = 4
MAX_POOL = 8
MAX_DROPOUT = 0.95
MAX_PARAMETERS = 20_000_000
MAX_MULTIPLY_ADDS = 2_000_000_000
MAX_SPEC_BYTES = 64 * 1024  # read no more than this from a file or an upload
MAX_TEXT = 500  # title and description, characters
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")

ACTIVATIONS: tuple[str, ...] = ("relu", "gelu", "silu", "elu", "tanh", "sigmoid", "linear")
PADDINGS: tuple[str, ...] = ("valid", "same")

Shape = tuple[int, ...]


# ---------------------------------------------------------------- value checks
def _int(layer: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArchitectureSpecError(f"{layer}: {key} must be a whole number, got {_show(value)}")
    if not low <= value <= high:
        raise ArchitectureSpecError(f"{layer}: {key} must be between {low} and {high}, got {_show(value)}")
    return value


def _float(layer: str, key: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ArchitectureSpecError(f"{layer}: {key} must be a number, got {_show(value)}")
    if not low <= value <= high:
        raise ArchitectureSpecError(f"{layer}: {key} must be between {low:g} and {high:g}, got {_show(value)}")
    return float(value)


def _choice(layer: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ArchitectureSpecError(f"{layer}: {key} must be one of {', '.join(choices)}, got {_show(value)}")
    return value


def _bool(layer: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ArchitectureSpecError(f"{layer}: {key} must be true or false, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    """A short rendering of a bad value: never echo a huge string or structure back."""
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'list'}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------- layers
@dataclass(frozen=True)
class Layer:
    """Base of every layer type: `kind` is its JSON "type", `label` its name in tables."""

    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""

    def check(self, where: str) -> None:
        """Refuse out-of-range settings (raises ArchitectureSpecError naming `where`)."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **{name: getattr(self, name) for name in setting_names(type(self))}}

    @property
    def label(self) -> str:
        return self.title

    def output(self, shape: Shape) -> Shape:  # overridden
        """The output shape for an input of `shape`, or ShapeProblem with a reason in words."""
        return shape

    def parameters(self, shape: Shape) -> int:
        return 0

    def multiply_adds(self, shape: Shape, out: Shape) -> int:
        return 0


def setting_names(cls: type[Layer]) -> tuple[str, ...]:
    """A layer type's settings (its JSON keys besides "type"), in declaration order."""
    return tuple(f.name for f in fields(cls))


class ShapeProblem(Exception):
    """A layer cannot take the shape it is given (internal: becomes an ArchitectureSpecError)."""


def _needs_map(layer: Layer, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeProblem(
            f"a {layer.title.lower()} needs a 2-D feature map, but it gets a vector of {shape[0]:,} values "
            "(it comes after a flatten, global average pooling or dense layer); move it before them"
        )
    return shape  # type: ignore[return-value]


def _window(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1 if size >= kernel else 0


@dataclass(frozen=True)
class Conv(Layer):
    kind: ClassVar[str] = "conv"
    title: ClassVar[str] = "Convolution"
    filters: int = 32
    kernel: int = 3
    stride: int = 1
    padding: str = "same"
    activation: str = "relu"
    bias: bool = True

    def check(self, where: str) -> None:
        _int(where, "filters", self.filters, 1, MAX_FILTERS)
        _int(where, "kernel", self.kernel, 1, MAX_KERNEL)
        _int(where, "stride", self.stride, 1, MAX_STRIDE)
        _choice(where, "padding", self.padding, PADDINGS)
        _choice(where, "activation", self.activation, ACTIVATIONS)
        _bool(where, "bias", self.bias)

    @property
    def label(self) -> str:
        act = "" if self.activation == "linear" else f", {self.activation}"
        stride = f", stride {self.stride}" if self.stride > 1 else ""
        return f"Conv {self.filters} {self.kernel}x{self.kernel}{stride}, {self.padding}{act}"

    def output(self, shape: Shape) -> Shape:
        h, w, _ = _needs_map(self, shape)
        oh, ow = (_window(n, self.kernel, self.stride, self.padding) for n in (h, w))
        if oh < 1 or ow < 1:
            raise ShapeProblem(
                f"a {self.kernel}x{self.kernel} convolution without padding does not fit on a {h}x{w} map; "
                "use padding 'same', a smaller kernel, or less pooling before it"
            )
        return (oh, ow, self.filters)

    def parameters(self, shape: Shape) -> int:
        return self.kernel * self.kernel * shape[-1] * self.filters + (self.filters if self.bias else 0)

    def multiply_adds(self, shape: Shape, out: Shape) -> int:
        return out[0] * out[1] * self.filters * self.kernel * self.kernel * shape[-1]


@dataclass(frozen=True)
class BatchNorm(Layer):
    """Momentum 0.9 by default (Keras' is 0.99): the moving statistics then keep up with a fast schedule."""

    kind: ClassVar[str] = "batchnorm"
    title: ClassVar[str] = "Batch normalisation"
    momentum: float = 0.9

    def check(self, where: str) -> None:
        _float(where, "momentum", self.momentum, 0.0, 0.999)

    def parameters(self, shape: Shape) -> int:
        return 4 * shape[-1]  # scale, offset, moving mean, moving variance


@dataclass(frozen=True)
class Activation(Layer):
    kind: ClassVar[str] = "activation"
    title: ClassVar[str] = "Activation"
    function: str = "relu"

    def check(self, where: str) -> None:
        _choice(where, "function", self.function, ACTIVATIONS)

    @property
    def label(self) -> str:
        return f"Activation {self.function}"


@dataclass(frozen=True)
class Pool(Layer):
    """Shared by max and average pooling; `stride` 0 means "the pool size" (non-overlapping)."""

    size: int = 2
    stride: int = 0
    padding: str = "valid"

    def check(self, where: str) -> None:
        _int(where, "size", self.size, 1, MAX_POOL)
        _int(where, "stride", self.stride, 0, MAX_STRIDE)
        _choice(where, "padding", self.padding, PADDINGS)

    @property
    def step(self) -> int:
        return self.stride or self.size

    @property
    def label(self) -> str:
        return f"{self.title} {self.size}x{self.size}"

    def output(self, shape: Shape) -> Shape:
        h, w, c = _needs_map(self, shape)
        oh, ow = (_window(n, self.size, self.step, self.padding) for n in (h, w))
        if oh < 1 or ow < 1:
            raise ShapeProblem(
                f"a {self.size}x{self.size} pooling cannot shrink a {h}x{w} map any further; "
                "remove it or an earlier pooling"
            )
        return (oh, ow, c)


@dataclass(frozen=True)
class MaxPool(Pool):
    kind: ClassVar[str] = "max_pool"
    title: ClassVar[str] = "Max pooling"


@dataclass(frozen=True)
class AvgPool(Pool):
    kind: ClassVar[str] = "avg_pool"
    title: ClassVar[str] = "Average pooling"


@dataclass(frozen=True)
class Dropout(Layer):
    kind: ClassVar[str] = "dropout"
    title: ClassVar[str] = "Dropout"
    rate: float = 0.25

    def check(self, where: str) -> None:
        _float(where, "rate", self.rate, 0.0, MAX_DROPOUT)

    @property
    def label(self) -> str:
        return f"Dropout {self.rate:g}"


@dataclass(frozen=True)
class Flatten(Layer):
    kind: ClassVar[str] = "flatten"
    title: ClassVar[str] = "Flatten"

    def output(self, shape: Shape) -> Shape:
        h, w, c = _needs_map(self, shape)
        return (h * w * c,)


@dataclass(frozen=True)
class GlobalAvgPool(Layer):
    kind: ClassVar[str] = "global_avg_pool"
    title: ClassVar[str] = "Global average pooling"

    def output(self, shape: Shape) -> Shape:
        return (_needs_map(self, shape)[2],)


@dataclass(frozen=True)
class Dense(Layer):
    kind: ClassVar[str] = "dense"
    title: ClassVar[str] = "Dense"
    units: int = 128
    activation: str = "relu"

    def check(self, where: str) -> None:
        _int(where, "units", self.units, 1, MAX_UNITS)
        _choice(where, "activation", self.activation, ACTIVATIONS)

    @property
    def label(self) -> str:
        act = "" if self.activation == "linear" else f", {self.activation}"
        return f"Dense {self.units}{act}"

    def output(self, shape: Shape) -> Shape:
        if len(shape) != 1:
            h, w, c = shape
            raise ShapeProblem(
                f"a dense layer needs a vector, but it gets a {h}x{w}x{c} feature map; "
                "put a flatten or global average pooling layer before it"
            )
        return (self.units,)

    def parameters(self, shape: Shape) -> int:
        return shape[0] * self.units + self.units

    def multiply_adds(self, shape: Shape, out: Shape) -> int:
        return shape[0] * self.units


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (Conv, BatchNorm, Activation, MaxPool, AvgPool, Dropout, Flatten, GlobalAvgPool, Dense)
}


def layer_name(index: int, layer: Layer | str) -> str:
    """How errors and tables name a layer: 'layer 3 (max_pool)', counting from 1."""
    kind = layer if isinstance(layer, str) else layer.kind
    return f"layer {index + 1} ({kind})"


def layer_from_dict(values: Any, index: int = 0) -> Layer:
    """One layer from its JSON object: known type, known settings, right types and ranges."""
    where = f"layer {index + 1}"
    if not isinstance(values, dict):
        raise ArchitectureSpecError(f"{where} must be a JSON object with a \"type\", got {_show(values)}",
                                    layer_index=index)
    kind = values.get("type")
    cls = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ArchitectureSpecError(
            f"{where} has an unknown type {_show(kind)}; known types: {', '.join(LAYER_TYPES)}", layer_index=index
        )
    where = layer_name(index, kind)
    settings = {key: value for key, value in values.items() if key != "type"}
    unknown = sorted(set(settings) - set(setting_names(cls)))
    if unknown:
        known = ", ".join(setting_names(cls)) or "none"
        raise ArchitectureSpecError(
            f"{where}: unknown setting {_show(unknown[0])} (its settings: {known})", layer_index=index
        )
    layer = cls(**settings)
    try:
        layer.check(where)
    except ArchitectureSpecError as exc:
        raise ArchitectureSpecError(str(exc), layer_index=index) from None
    return layer


# ---------------------------------------------------------------- the specification
@dataclass(frozen=True)
class ArchitectureSpec:
    """A named list of layers between the 28x28x1 input and the 10-way softmax output."""

    name: str
    layers: tuple[Layer, ...]
    title: str = ""
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "version": SPEC_VERSION,
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, values: Any) -> ArchitectureSpec:
        return spec_from_dict(values)

    def renamed(self, name: str, title: str | None = None) -> ArchitectureSpec:
        return ArchitectureSpec(check_name(name), self.layers, self.title if title is None else title,
                                self.description)


def check_name(name: Any) -> str:
    """Names become file names and run-id parts: letters, digits, '-' and '_', at most 40 characters."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ArchitectureSpecError(
            f"architecture name {_show(name)} is not allowed: use 1-40 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ArchitectureSpecError(f"{key} must be text, got {_show(value)}")
    if len(value) > MAX_TEXT:
        raise ArchitectureSpecError(f"{key} is longer than {MAX_TEXT} characters")
    return value


def spec_from_dict(values: Any) -> ArchitectureSpec:
    """A validated specification from parsed JSON (raises ArchitectureSpecError naming what is wrong)."""
    if not isinstance(values, dict):
        raise ArchitectureSpecError(f"an architecture must be a JSON object, got {_show(values)}")
    known = {"format", "version", "name", "title", "description", "layers"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ArchitectureSpecError(f"unknown key {_show(unknown[0])} (known keys: {', '.join(sorted(known))})")
    if values.get("format", SPEC_FORMAT) != SPEC_FORMAT:
        raise ArchitectureSpecError(f"not an architecture file: format is {_show(values.get('format'))}")
    version = values.get("version", SPEC_VERSION)
    if version != SPEC_VERSION or isinstance(version, bool):
        raise ArchitectureSpecError(
            f"unsupported specification version {_show(version)} (this app reads {SPEC_VERSION})"
        )
    layers = values.get("layers")
    if not isinstance(layers, list):
        raise ArchitectureSpecError("\"layers\" must be a list of layer objects")
    if len(layers) > MAX_LAYERS:
        raise ArchitectureSpecError(f"too many layers: {len(layers):,} (at most {MAX_LAYERS})")
    spec = ArchitectureSpec(
        name=check_name(values.get("name", "custom")),
        layers=tuple(layer_from_dict(layer, index) for index, layer in enumerate(layers)),
        title=_text("title", values.get("title", "")),
        description=_text("description", values.get("description", "")),
    )
    validate(spec)
    return spec


def spec_from_json(data: str | bytes, *, max_bytes: int = MAX_SPEC_BYTES) -> ArchitectureSpec:
    """Parse untrusted JSON: the size is checked before parsing, deep nesting and bad types are refused."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > max_bytes:
        raise ArchitectureSpecError(
            f"the architecture file is too large ({size:,} bytes; at most {max_bytes:,}): it is not a specification"
        )
    try:
        values = json.loads(data)
    except RecursionError:
        raise ArchitectureSpecError("the architecture file is nested too deeply to be a specification") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchitectureSpecError(f"the architecture file is not valid JSON ({str(exc)[:80]})") from None
    return spec_from_dict(values)


def load_spec_file(path: str | Path, *, max_bytes: int = MAX_SPEC_BYTES) -> ArchitectureSpec:
    """Read at most max_bytes + 1 bytes of a file (a huge file is refused without reading it whole)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ArchitectureSpecError(f"cannot read architecture file {str(path)!r}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ArchitectureSpecError(
            f"the architecture file {str(path)!r} is larger than {max_bytes:,} bytes: it is not a specification"
        )
    return spec_from_json(data, max_bytes=max_bytes)


# ---------------------------------------------------------------- shapes and cost
@dataclass(frozen=True)
class LayerRow:
    """One line of the layer table; `index` is None for the input and the added output."""

    index: int | None
    kind: str
    label: str
    output_shape: Shape | None
    parameters: int
    multiply_adds: int


@dataclass(frozen=True)
class LayerTable:
    """Shapes and costs layer by layer, totals, and the first problem (with its layer) if any."""

    rows: tuple[LayerRow, ...]
    problem: str | None = None
    problem_index: int | None = None
    totals: tuple[int, int] = field(default=(0, 0))

    @property
    def parameters(self) -> int:
        return self.totals[0]

    @property
    def multiply_adds(self) -> int:
        return self.totals[1]

    @property
    def ok(self) -> bool:
        return self.problem is None


def format_shape(shape: Shape | None) -> str:
    return "–" if shape is None else " x ".join(str(n) for n in shape)


def layer_table(spec: ArchitectureSpec) -> LayerTable:
    """Infer every layer's output shape, parameters and multiply-adds; never raises for a shape problem.

    The table stops at the first layer that breaks, with its reason in `problem`, so a page can show
    the layers that work and say where and why the network is impossible.
    """
    rows = [LayerRow(None, "input", "Input image", tuple(INPUT_SHAPE), 0, 0)]
    shape: Shape = tuple(INPUT_SHAPE)
    params = macs = 0
    for index, layer in enumerate(spec.layers):
        try:
            out = layer.output(shape)
        except ShapeProblem as exc:
            return LayerTable(tuple(rows), f"{layer_name(index, layer).capitalize()}: {exc}.", index, (params, macs))
        p, m = layer.parameters(shape), layer.multiply_adds(shape, out)
        rows.append(LayerRow(index, layer.kind, layer.label, out, p, m))
        params, macs, shape = params + p, macs + m, out
    if len(shape) != 1:
        h, w, c = shape
        return LayerTable(
            tuple(rows),
            f"The network ends on a {h}x{w}x{c} feature map, but the 10-way output needs a vector: "
            "add a flatten or global average pooling layer at the end.",
            len(spec.layers),
            (params, macs),
        )
    head = Dense(NUM_CLASSES, "linear")
    p, m = head.parameters(shape), head.multiply_adds(shape, (NUM_CLASSES,))
    rows.append(LayerRow(None, "output", f"Output: dense {NUM_CLASSES}, softmax (added)", (NUM_CLASSES,), p, m))
    params, macs = params + p, macs + m
    problem = None
    if params > MAX_PARAMETERS:
        problem = f"The network has {params:,} parameters; at most {MAX_PARAMETERS:,} are allowed here."
    elif macs > MAX_MULTIPLY_ADDS:
        problem = (f"The network needs {macs:,} multiply-adds per image; at most {MAX_MULTIPLY_ADDS:,} are "
                   "allowed here (an epoch would take hours).")
    return LayerTable(tuple(rows), problem, None, (params, macs))


def validate(spec: ArchitectureSpec) -> LayerTable:
    """The layer table of a network that can be built; ArchitectureSpecError (naming the layer) otherwise."""
    check_name(spec.name)
    if len(spec.layers) > MAX_LAYERS:
        raise ArchitectureSpecError(f"too many layers: {len(spec.layers)} (at most {MAX_LAYERS})")
    for index, layer in enumerate(spec.layers):
        if not isinstance(layer, Layer):
            raise ArchitectureSpecError(f"layer {index + 1} is not a layer", layer_index=index)
        try:
            layer.check(layer_name(index, layer))
        except ArchitectureSpecError as exc:
            raise ArchitectureSpecError(str(exc), layer_index=index) from None
    table = layer_table(spec)
    if table.problem:
        raise ArchitectureSpecError(table.problem, layer_index=table.problem_index)
    return table


def table_text(spec: ArchitectureSpec) -> str:
    """The layer table as fixed-width text (the CLI's `arch show`)."""
    table = layer_table(spec)
    lines = [f"{'#':>3}  {'layer':40} {'output shape':>14} {'parameters':>12} {'multiply-adds':>14}"]
    for row in table.rows:
        number = "" if row.index is None else str(row.index + 1)
        lines.append(f"{number:>3}  {row.label[:40]:40} {format_shape(row.output_shape):>14} "
                     f"{row.parameters:>12,} {row.multiply_adds:>14,}")
    lines.append(f"{'':>3}  {'total':40} {'':>14} {table.parameters:>12,} {table.multiply_adds:>14,}")
    if table.problem:
        lines.append(f"problem: {table.problem}")
    return "\n".join(lines)
