"""The builder page's network in session state: an ordered list of layers whose settings live in widgets.

Each layer has a stable id, and its settings are widget keys ``bd_<id>_<setting>``, so reordering or
removing a layer keeps every other layer's values. Functions take the state mapping (a plain dict in
unit tests, ``st.session_state`` in the page) and are usable as on_click callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fmnist_core.archspec import (
    ACTIVATIONS,
    LAYER_TYPES,
    MAX_DROPOUT,
    MAX_FILTERS,
    MAX_KERNEL,
    MAX_LAYERS,
    MAX_POOL,
    MAX_SPEC_BYTES,
    MAX_STRIDE,
    MAX_UNITS,
    PADDINGS,
    ArchitectureSpec,
    Layer,
    check_name,
    layer_from_dict,
    setting_names,
    spec_from_json,
)
from fmnist_core.errors import ArchitectureSpecError
from fmnist_core.models import ARCHITECTURES

LAYERS_KEY = "bd_layers"  # list of {"id": int, "type": str}
NEXT_ID_KEY = "bd_next_id"
NAME_KEY = "bd_name"
TITLE_KEY = "bd_title"
DESCRIPTION_KEY = "bd_description"
SOURCE_KEY = "bd_loaded_from"  # what the network was started from, for the caption
DEFAULT_NAME = "my_cnn"


@dataclass(frozen=True)
class SettingWidget:
    """How one layer setting is edited: label, widget kind and range (the spec's own limits)."""

    label: str
    kind: str  # "int", "float", "choice", "bool"
    low: float = 0
    high: float = 0
    step: float = 1
    options: tuple[str, ...] = ()
    help: str | None = None


SETTING_WIDGETS: dict[tuple[str, str], SettingWidget] = {}
_COMMON = {
    "filters": SettingWidget("Filters", "int", 1, MAX_FILTERS, 8, help="How many feature maps the layer makes."),
    "kernel": SettingWidget("Kernel", "int", 1, MAX_KERNEL, 1, help="Side of the square window, in pixels."),
    "stride": SettingWidget("Stride", "int", 1, MAX_STRIDE, 1, help="Step of the window; 2 halves the map."),
    "padding": SettingWidget("Padding", "choice", options=PADDINGS,
                             help="same: keep the map's size; valid: only windows that fit (the map shrinks)."),
    "activation": SettingWidget("Activation", "choice", options=ACTIVATIONS),
    "function": SettingWidget("Function", "choice", options=ACTIVATIONS),
    "bias": SettingWidget("Bias", "bool", help="Off before batch normalisation: its offset does the same job."),
    "momentum": SettingWidget("Momentum", "float", 0.0, 0.999, 0.01,
                              help="How slowly the moving mean and variance used at test time follow the batches."),
    "size": SettingWidget("Pool size", "int", 1, MAX_POOL, 1),
    "rate": SettingWidget("Rate", "float", 0.0, MAX_DROPOUT, 0.05, help="Fraction of values zeroed while training."),
    "units": SettingWidget("Units", "int", 1, MAX_UNITS, 16),
}
for _kind, _cls in LAYER_TYPES.items():
    for _name in setting_names(_cls):
        widget = _COMMON[_name]
        if _name == "stride" and _kind in {"max_pool", "avg_pool"}:
            widget = SettingWidget("Stride", "int", 0, MAX_STRIDE, 1, help="0: the pool size (no overlap).")
        SETTING_WIDGETS[(_kind, _name)] = widget


def widget_key(layer_id: int, setting: str) -> str:
    return f"bd_{layer_id}_{setting}"


def layers(state: MutableMapping[str, Any]) -> list[dict[str, Any]]:
    return state.setdefault(LAYERS_KEY, [])


def _new_id(state: MutableMapping[str, Any]) -> int:
    layer_id = int(state.get(NEXT_ID_KEY, 0))
    state[NEXT_ID_KEY] = layer_id + 1
    return layer_id


def _clear_widgets(state: MutableMapping[str, Any], layer: dict[str, Any]) -> None:
    for setting in setting_names(LAYER_TYPES[layer["type"]]):
        state.pop(widget_key(layer["id"], setting), None)


def _insert(state: MutableMapping[str, Any], kind: str, values: dict[str, Any], position: int | None) -> None:
    layer_id = _new_id(state)
    for setting in setting_names(LAYER_TYPES[kind]):
        value = values[setting]
        is_float = SETTING_WIDGETS[(kind, setting)].kind == "float"
        state[widget_key(layer_id, setting)] = float(value) if is_float else value
    items = layers(state)
    items.insert(len(items) if position is None else max(0, min(position, len(items))), {"id": layer_id, "type": kind})


def load_spec(state: MutableMapping[str, Any], spec: ArchitectureSpec, source: str) -> None:
    """Replace the page's network with `spec` (every widget value set from it)."""
    for layer in layers(state):
        _clear_widgets(state, layer)
    state[LAYERS_KEY] = []
    for layer in spec.layers:
        settings = layer.to_dict()
        settings.pop("type")
        _insert(state, layer.kind, settings, None)
    builtin = spec.name in ARCHITECTURES
    # An edited built-in is a new network: it gets a name of its own (built-in names stay what they are).
    state[NAME_KEY] = f"my_{spec.name}" if builtin else spec.name
    state[TITLE_KEY] = "" if builtin else spec.title
    state[DESCRIPTION_KEY] = f"Started from {spec.name}." if builtin else spec.description
    state[SOURCE_KEY] = source


def add_layer(state: MutableMapping[str, Any], kind: str, position: int | None = None) -> None:
    """Insert a layer of `kind` with its default settings (at the end unless `position` says where)."""
    if len(layers(state)) >= MAX_LAYERS:
        return
    defaults = LAYER_TYPES[kind]().to_dict()
    defaults.pop("type")
    _insert(state, kind, defaults, position)


def remove_layer(state: MutableMapping[str, Any], layer_id: int) -> None:
    items = layers(state)
    for layer in [item for item in items if item["id"] == layer_id]:
        _clear_widgets(state, layer)
        items.remove(layer)


def move_layer(state: MutableMapping[str, Any], layer_id: int, offset: int) -> None:
    """Move a layer up (offset -1) or down (+1); nothing at either end."""
    items = layers(state)
    index = next((i for i, item in enumerate(items) if item["id"] == layer_id), None)
    if index is None or not 0 <= index + offset < len(items):
        return
    items[index], items[index + offset] = items[index + offset], items[index]


def layers_from_state(state: MutableMapping[str, Any]) -> tuple[Layer, ...]:
    """The layers the widgets describe; a bad value raises ArchitectureSpecError naming the layer.

    Shape problems are not raised here: the page shows them in the layer table (archspec.layer_table).
    """
    built = []
    for index, layer in enumerate(layers(state)):
        values: dict[str, Any] = {"type": layer["type"]}
        for setting in setting_names(LAYER_TYPES[layer["type"]]):
            value = state.get(widget_key(layer["id"], setting))
            if value is not None and SETTING_WIDGETS[(layer["type"], setting)].kind == "int":
                value = int(value)
            values[setting] = value
        built.append(layer_from_dict(values, index))
    return tuple(built)


def spec_from_state(state: MutableMapping[str, Any]) -> ArchitectureSpec:
    """The whole specification, its name checked (ArchitectureSpecError when a value or the name is bad)."""
    name = check_name(str(state.get(NAME_KEY) or "").strip())
    return ArchitectureSpec(name, layers_from_state(state), str(state.get(TITLE_KEY) or "").strip(),
                            str(state.get(DESCRIPTION_KEY) or ""))


def load_upload(state: MutableMapping[str, Any], name: str, size: int, read: Callable[[], bytes]) -> str | None:
    """Load an uploaded specification file; returns a message for the user when it is refused.

    The size is checked before a byte is read, and the bytes are parsed as untrusted JSON
    (archspec.spec_from_json), so a huge or hostile file costs nothing and changes nothing.
    """
    if size > MAX_SPEC_BYTES:
        return (f"**This file was not loaded.** It is {size:,} bytes; an architecture specification is at most "
                f"{MAX_SPEC_BYTES:,} bytes.")
    try:
        spec = spec_from_json(read())
    except ArchitectureSpecError as exc:
        return f"**This file was not loaded.** {exc}"
    load_spec(state, spec, f"the file {name}")
    return None
