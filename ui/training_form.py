"""The Training page's widgets <-> TrainConfig, presets and the augmentation hand-off from the lab."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import streamlit as st

from fmnist_core.augmentation import AugmentationConfig
from fmnist_core.config import PRESETS, TrainConfig

from .architecture_choice import apply_architecture_handoff, custom_spec

# Session-state key of the AugmentationConfig the Augmentation lab hands to the Training page.
LAB_HANDOFF_KEY = "augmentation_for_training"
PRESET_KEY = "tr_preset"
DEFAULT_PRESET = "default"

# TrainConfig field -> widget key
FIELD_KEYS = {
    "architecture": "tr_architecture",
    "epochs": "tr_epochs",
    "batch_size": "tr_batch_size",
    "learning_rate": "tr_learning_rate",
    "optimizer": "tr_optimizer",
    "schedule": "tr_schedule",
    "warmup_epochs": "tr_warmup_epochs",
    "weight_decay": "tr_weight_decay",
    "label_smoothing": "tr_label_smoothing",
    "ema_momentum": "tr_ema_momentum",
    "mixed_precision": "tr_mixed_precision",
    "mirror_averaging": "tr_mirror_averaging",
    "validation": "tr_validation",
    "seed": "tr_seed",
}
# AugmentationConfig field -> widget key (the lab uses the same names with a "lab_" prefix)
AUG_KEYS = {
    "rotation_deg": "aug_rotation_deg",
    "width_shift": "aug_width_shift",
    "height_shift": "aug_height_shift",
    "zoom": "aug_zoom",
    "horizontal_flip": "aug_horizontal_flip",
    "erasing": "aug_erasing",
}
SUBSET_TOGGLE_KEY = "tr_use_subset"
SUBSET_SIZE_KEY = "tr_train_limit"
DEFAULT_SUBSET = 5000


def augmentation_values(aug: AugmentationConfig) -> dict[str, Any]:
    return {
        AUG_KEYS["rotation_deg"]: float(aug.rotation_deg),
        AUG_KEYS["width_shift"]: float(aug.width_shift),
        AUG_KEYS["height_shift"]: float(aug.height_shift),
        AUG_KEYS["zoom"]: float(aug.zoom),
        AUG_KEYS["horizontal_flip"]: bool(aug.horizontal_flip),
        AUG_KEYS["erasing"]: float(aug.erasing),
    }


def config_values(config: TrainConfig) -> dict[str, Any]:
    """Widget values that show this config."""
    values: dict[str, Any] = {key: getattr(config, name) for name, key in FIELD_KEYS.items()}
    for name in ("epochs", "batch_size", "seed"):
        values[FIELD_KEYS[name]] = int(values[FIELD_KEYS[name]])
    for name in ("learning_rate", "warmup_epochs", "weight_decay", "label_smoothing", "ema_momentum"):
        values[FIELD_KEYS[name]] = float(values[FIELD_KEYS[name]])
    for name in ("mixed_precision", "mirror_averaging"):
        values[FIELD_KEYS[name]] = bool(values[FIELD_KEYS[name]])
    values.update(augmentation_values(config.augmentation))
    values[SUBSET_TOGGLE_KEY] = config.train_limit is not None
    values[SUBSET_SIZE_KEY] = int(config.train_limit or DEFAULT_SUBSET)
    return values


def apply_preset(state: MutableMapping[str, Any], name: str) -> None:
    state.update(config_values(PRESETS[name]))


def on_preset_change() -> None:
    """Callback of the preset picker: pre-fill every widget from the chosen preset."""
    name = st.session_state.get(PRESET_KEY) or DEFAULT_PRESET
    apply_preset(st.session_state, name)


def init_state(state: MutableMapping[str, Any]) -> str | None:
    """Fill missing widget values from the default preset, then apply a hand-off from the lab.

    Returns a notice for the user when the lab's settings were applied.
    """
    if PRESET_KEY not in state:
        state[PRESET_KEY] = DEFAULT_PRESET
    defaults = config_values(PRESETS[state[PRESET_KEY] or DEFAULT_PRESET])
    for key, value in defaults.items():
        if key not in state:
            state[key] = value
    arch_notice = apply_architecture_handoff(state, FIELD_KEYS["architecture"])  # from the builder page
    handoff = state.pop(LAB_HANDOFF_KEY, None)
    if handoff is not None:
        aug = handoff if isinstance(handoff, AugmentationConfig) else AugmentationConfig.from_dict(handoff)
        state.update(augmentation_values(aug))
        return "The augmentation settings from the Augmentation lab were filled in below."
    return arch_notice


def config_from_state(state: MutableMapping[str, Any]) -> TrainConfig:
    """The TrainConfig the widgets describe (raises ConfigError for out-of-range values)."""
    aug = AugmentationConfig(**{name: state[key] for name, key in AUG_KEYS.items()})
    values = {name: state[key] for name, key in FIELD_KEYS.items()}
    train_limit = int(state[SUBSET_SIZE_KEY]) if state.get(SUBSET_TOGGLE_KEY) else None
    return TrainConfig(**values, augmentation=aug, train_limit=train_limit,
                       architecture_spec=custom_spec(state, values["architecture"]))
