"""The Training page's settings form <-> TrainConfig, presets and the augmentation hand-off from the lab.

Every widget comes from the settings schema (fmnist_core.settings): the keys are ``tr_<field>`` for
TrainConfig's settings and ``aug_<field>`` for AugmentationConfig's, so a setting declared on the
config appears here with no edit.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import streamlit as st

from fmnist_core.augmentation import AugmentationConfig
from fmnist_core.config import PRESET_DESCRIPTIONS, PRESET_LABELS, PRESETS, TrainConfig
from fmnist_core.settings import Setting, settings_of
from ui.settings_widgets import (
    ChoiceOverrides,
    augmentation_controls,
    augmentation_values,
    form_settings,
    optional_setting,
    setting_key,
    settings_grid,
)

from .architecture_choice import apply_architecture_handoff, custom_spec

# Session-state key of the AugmentationConfig the Augmentation lab hands to the Training page.
LAB_HANDOFF_KEY = "augmentation_for_training"
PRESET_KEY = "tr_preset"
DEFAULT_PRESET = "default"
FIELD_PREFIX = "tr_"
AUG_PREFIX = "aug_"
# The toggle of an `X | None` setting is keyed "tr_use_<field>", except the subset's historical key.
TOGGLE_KEYS = {"train_limit": "tr_use_subset"}
MAIN_COLUMNS = 4
ADVANCED_COLUMNS = 3


def _form_settings(config_class: type[TrainConfig]) -> tuple[Setting, ...]:
    return tuple(item for item in settings_of(config_class) if item.info.form)


def toggle_key(item: Setting) -> str:
    return TOGGLE_KEYS.get(item.name, f"{FIELD_PREFIX}use_{item.name}")


# TrainConfig field -> widget key, and AugmentationConfig field -> widget key
FIELD_KEYS = {item.name: setting_key(FIELD_PREFIX, item) for item in _form_settings(TrainConfig)}
AUG_KEYS = {item.name: setting_key(AUG_PREFIX, item) for item in settings_of(AugmentationConfig) if item.info.form}
SUBSET_TOGGLE_KEY = TOGGLE_KEYS["train_limit"]
SUBSET_SIZE_KEY = FIELD_KEYS["train_limit"]


def config_values(config: TrainConfig) -> dict[str, Any]:
    """Widget values (by key) that show this config."""
    values: dict[str, Any] = {}
    for item in _form_settings(type(config)):
        value = getattr(config, item.name)
        values[setting_key(FIELD_PREFIX, item)] = item.widget_value(value)
        if item.optional:
            values[toggle_key(item)] = value is not None
    values.update(augmentation_values(config.augmentation, AUG_PREFIX))
    return values


def apply_preset(state: MutableMapping[str, Any], name: str, config_class: type[TrainConfig] = TrainConfig) -> None:
    config = PRESETS[name]
    if config_class is not type(config):
        config = config_class.from_dict(config.to_dict())
    state.update(config_values(config))


def on_preset_change(config_class: type[TrainConfig] = TrainConfig) -> None:
    """Callback of the preset picker: pre-fill every widget from the chosen preset."""
    name = st.session_state.get(PRESET_KEY) or DEFAULT_PRESET
    apply_preset(st.session_state, name, config_class)


def init_state(state: MutableMapping[str, Any], config_class: type[TrainConfig] = TrainConfig) -> str | None:
    """Fill missing widget values from the chosen preset, then apply a hand-off from the lab.

    Returns a notice for the user when the lab's settings were applied.
    """
    if PRESET_KEY not in state:
        state[PRESET_KEY] = DEFAULT_PRESET
    preset = PRESETS[state[PRESET_KEY] or DEFAULT_PRESET]
    if config_class is not type(preset):
        preset = config_class.from_dict(preset.to_dict())
    for key, value in config_values(preset).items():
        if key not in state:
            state[key] = value
    arch_notice = apply_architecture_handoff(state, FIELD_KEYS["architecture"])  # from the builder page
    handoff = state.pop(LAB_HANDOFF_KEY, None)
    if handoff is not None:
        aug = handoff if isinstance(handoff, AugmentationConfig) else AugmentationConfig.from_dict(handoff)
        state.update(augmentation_values(aug, AUG_PREFIX))
        return "The augmentation settings from the Augmentation lab were filled in below."
    return arch_notice


def config_from_state(state: MutableMapping[str, Any], config_class: type[TrainConfig] = TrainConfig) -> TrainConfig:
    """The TrainConfig the widgets describe (raises ConfigError for out-of-range values)."""
    aug = AugmentationConfig(**{name: state[key] for name, key in AUG_KEYS.items()})
    values: dict[str, Any] = {}
    for item in _form_settings(config_class):
        value = state[setting_key(FIELD_PREFIX, item)]
        values[item.name] = value if not item.optional or state.get(toggle_key(item)) else None
    return config_class(**values, augmentation=aug, architecture_spec=custom_spec(state, values["architecture"]))


def preset_picker(config_class: type[TrainConfig] = TrainConfig) -> str:
    """The preset control (labelled "Report", "Default", "Best"; keys as in fmnist_core.config) and its
    description; choosing one fills in every setting."""
    preset = st.segmented_control("Preset", list(PRESETS), key=PRESET_KEY, on_change=on_preset_change,
                                  args=(config_class,), required=True, format_func=PRESET_LABELS.get,
                                  persist_state="session")
    st.caption(PRESET_DESCRIPTIONS.get(preset or "", "") + " Choosing a preset fills in every setting below.")
    return preset or DEFAULT_PRESET


def _settings_group(config_class: type[TrainConfig], group: str, columns: int,
                    choice_overrides: ChoiceOverrides | None = None) -> None:
    items = form_settings(config_class, group)
    settings_grid([item for item in items if not item.optional], FIELD_PREFIX, columns, choice_overrides)
    for item in items:
        if item.optional:
            optional_setting(item, setting_key(FIELD_PREFIX, item), toggle_key(item), st.session_state)


def settings_form(config_class: type[TrainConfig] = TrainConfig,
                  choice_overrides: ChoiceOverrides | None = None) -> None:
    """Every setting's widget, laid out: the main grid and its optional settings (the subset), then
    augmentation and advanced settings in expanders. Read the result with config_from_state.
    ``choice_overrides`` offers a page's own choices (saved networks beside the built-in ones)."""
    _settings_group(config_class, "main", MAIN_COLUMNS, choice_overrides)
    extra_keys = [setting_key(FIELD_PREFIX, item) for item in form_settings(config_class, "augmentation")]
    aug_on = any(st.session_state.get(key) for key in [*AUG_KEYS.values(), *extra_keys])
    with st.expander("Augmentation" + (" (on)" if aug_on else " (off)"), expanded=aug_on,
                     icon=":material/auto_fix_high:"):
        st.caption("Applied on the fly to every training batch. Try settings on the Augmentation lab page first.")
        augmentation_controls(AUG_PREFIX)
        if extra_keys:  # photo renders: made once before training, not on the fly
            st.caption("Added to the training set before the first batch (rendered once, then cached):")
            _settings_group(config_class, "augmentation", ADVANCED_COLUMNS)
    with st.expander("Advanced", icon=":material/tune:"):
        _settings_group(config_class, "advanced", ADVANCED_COLUMNS)
