"""Streamlit widgets derived from the settings schema (fmnist_core.settings).

A setting's label, help, range, step and choices are declared once on its config dataclass; these
functions draw the matching widget under the key ``<prefix><field name>``. The Training page and
the Augmentation lab both draw their augmentation controls with ``augmentation_controls``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

import streamlit as st

from fmnist_core.augmentation import AugmentationConfig
from fmnist_core.settings import Setting, settings_of


def setting_key(prefix: str, item: Setting) -> str:
    return prefix + item.name


# A page may offer more choices than the engine's registry knows (saved networks for `architecture`):
# {setting name: (options, label function)}.
ChoiceOverrides = Mapping[str, tuple[Sequence[Any], Callable[[Any], str]]]


def setting_widget(item: Setting, key: str, container: Any = st, *, disabled: bool = False,
                   choices: tuple[Sequence[Any], Callable[[Any], str]] | None = None) -> Any:
    """Draw the widget of one setting (its value lives in st.session_state[key]) and return its value."""
    common: dict[str, Any] = {"key": key, "help": item.info.help or None, "disabled": disabled,
                              "persist_state": "session"}
    kind = item.widget_kind
    if kind == "toggle":
        return container.toggle(item.label, **common)
    if kind == "select":
        options, label = choices or (item.options or (), item.choice_label)
        return container.selectbox(item.label, list(options), format_func=label, **common)
    cast = item.kind
    bounds: dict[str, Any] = {
        "min_value": None if item.info.minimum is None else cast(item.info.minimum),
        "max_value": None if item.info.maximum is None else cast(item.info.maximum),
        "step": None if item.info.step is None else cast(item.info.step),
    }
    widget = container.slider if kind == "slider" else container.number_input
    return widget(item.label, format=item.info.number_format, **bounds, **common)


def settings_grid(settings: Sequence[Setting], prefix: str, columns: int,
                  choice_overrides: ChoiceOverrides | None = None) -> dict[str, Any]:
    """The given settings' widgets, filled row by row into this many columns; {name: value}."""
    cells = st.columns(columns) if settings else []
    overrides = choice_overrides or {}
    return {item.name: setting_widget(item, setting_key(prefix, item), cells[i % columns],
                                      choices=overrides.get(item.name))
            for i, item in enumerate(settings)}


def optional_setting(item: Setting, key: str, toggle_key: str, state: MutableMapping[str, Any]) -> Any:
    """An `X | None` setting: a toggle that turns it on beside its number field; None while off."""
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    on = left.toggle(item.info.optional_label or item.label, key=toggle_key, persist_state="session",
                     help=item.info.help or None)
    value = setting_widget(item, key, right, disabled=not state.get(toggle_key))
    return value if on else None


def form_settings(config_class: type, group: str) -> tuple[Setting, ...]:
    return tuple(item for item in settings_of(config_class) if item.info.form and item.info.group == group)


def augmentation_values(aug: AugmentationConfig, prefix: str) -> dict[str, Any]:
    """Widget values (by key) that show this augmentation config."""
    return {setting_key(prefix, item): item.widget_value(getattr(aug, item.name)) for item in settings_of(type(aug))}


def augmentation_controls(prefix: str, *, columns: int = 2, initial: AugmentationConfig | None = None,
                          config_class: type[AugmentationConfig] = AugmentationConfig) -> AugmentationConfig:
    """Every augmentation setting's widget (keys ``<prefix><field>``) and the config they describe.

    ``initial`` fills widgets this session has not set yet (the lab opens on the seed report's
    settings); the Training page fills its own from the chosen preset.
    """
    if initial is not None:
        for key, value in augmentation_values(initial, prefix).items():
            st.session_state.setdefault(key, value)
    values = settings_grid(form_settings(config_class, "augmentation"), prefix, columns)
    return config_class(**values)


__all__ = ["setting_key", "setting_widget", "settings_grid", "optional_setting", "form_settings",
           "augmentation_values", "augmentation_controls"]
