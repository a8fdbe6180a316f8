"""The settings schema (fmnist_core.settings): each setting is declared once, on its config
dataclass, and validation, the Training form and the command line all come from that declaration.
A subclass adding one field shows it in all three."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from fmnist_core import cli
from fmnist_core.augmentation import SEED_REPORT_AUGMENTATION, AugmentationConfig
from fmnist_core.config import PRESET_ALIASES, PRESETS, TrainConfig, preset
from fmnist_core.errors import ConfigError
from fmnist_core.settings import Setting, setting, setting_named, settings_of


@dataclass(frozen=True)
class ExtendedConfig(TrainConfig):
    """A hyperparameter added in one place: one field declaration."""

    dropout: float = setting(0.25, label="Dropout", minimum=0.0, maximum=0.8, step=0.05, group="advanced",
                             help="Share of activations dropped while training.")


NUMERIC = [(cls, item) for cls in (TrainConfig, AugmentationConfig) for item in settings_of(cls)
           if item.kind in (int, float)]


def _make(cls: type, name: str, value):
    # Batch size 1, so that a small training subset is not "smaller than one batch".
    base = {"batch_size": 1} if cls is TrainConfig and name != "batch_size" else {}
    return cls(**{**base, name: value})


def test_every_hyperparameter_is_a_declared_setting():
    names = [item.name for item in settings_of(TrainConfig)]
    assert names == [f.name for f in dataclasses.fields(TrainConfig)
                     if f.name not in {"augmentation", "architecture_spec"}]
    assert [item.name for item in settings_of(AugmentationConfig)] == [
        f.name for f in dataclasses.fields(AugmentationConfig)]
    for item in settings_of(TrainConfig) + settings_of(AugmentationConfig):
        assert isinstance(item, Setting) and item.label
        assert item.default == getattr(TrainConfig() if item.name in TrainConfig.__dataclass_fields__
                                       else AugmentationConfig(), item.name)
    train_limit = setting_named(TrainConfig, "train_limit")
    assert train_limit.kind is int and train_limit.optional and train_limit.default is None


@pytest.mark.parametrize(("cls", "item"), NUMERIC, ids=[f"{c.__name__}.{i.name}" for c, i in NUMERIC])
def test_numeric_ranges_are_inclusive_and_enforced(cls, item):
    low, high = item.info.minimum, item.info.maximum
    assert low is not None and high is not None and item.info.step
    for value in (low, high):
        assert getattr(_make(cls, item.name, item.kind(value)), item.name) == value
    for value in (low - item.info.step, high + item.info.step):
        with pytest.raises(ConfigError, match=item.name):
            _make(cls, item.name, item.kind(value))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"epochs": "7"}, "whole number"),
        ({"epochs": 7.5}, "whole number"),
        ({"batch_size": True}, "whole number"),
        ({"mixed_precision": "yes"}, "true or false"),
        ({"learning_rate": float("nan")}, "between"),
        ({"optimizer": "lion"}, "one of adam, adamw, sgd"),
        ({"validation": "train"}, "one of holdout, test"),
        ({"epochs": None}, "must be set"),
    ],
)
def test_wrong_types_and_choices_are_config_errors_naming_the_setting(changes, words):
    with pytest.raises(ConfigError, match=words) as info:
        TrainConfig(**changes)
    assert next(iter(changes)) in str(info.value)


def test_range_messages_use_the_label_and_the_limits():
    with pytest.raises(ConfigError, match=r"Batch size \(batch_size\) must be between 1 and 4,096, got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match=r"Rotation .*\(augmentation rotation_deg\) must be between 0 and 180"):
        AugmentationConfig(rotation_deg=181.0)


def test_a_subset_smaller_than_a_batch_is_refused_by_the_config_itself():
    # Formerly training.validate_for_training, which only the Training page called.
    TrainConfig(train_limit=128, batch_size=128)
    with pytest.raises(ConfigError, match="smaller than one batch"):
        TrainConfig(train_limit=100, batch_size=128)
    with pytest.raises(ConfigError, match="smaller than one batch"):
        PRESETS["default"].with_changes(train_limit=200, batch_size=256)


def test_presets_and_alias():
    for config in PRESETS.values():
        assert isinstance(config, TrainConfig)  # constructed, so valid
    assert PRESET_ALIASES == {"report": "seed"} and preset("report") is PRESETS["seed"]
    assert not AugmentationConfig().enabled and SEED_REPORT_AUGMENTATION.enabled
    assert AugmentationConfig(erasing=0.1).enabled and AugmentationConfig(horizontal_flip=True).enabled


# ---------------------------------------------------------------- one field added in one place
def test_an_added_field_is_validated():
    assert ExtendedConfig().dropout == 0.25 and ExtendedConfig(dropout=0.8).dropout == 0.8
    with pytest.raises(ConfigError, match=r"Dropout \(dropout\) must be between 0 and 0.8"):
        ExtendedConfig(dropout=0.9)
    assert ExtendedConfig.from_dict(ExtendedConfig(dropout=0.5).to_dict()).dropout == 0.5


def test_an_added_field_is_a_command_line_option():
    parser = argparse.ArgumentParser()
    cli.add_train_options(parser, ExtendedConfig)
    assert "--dropout" in parser.format_help() and "activations dropped" in parser.format_help()
    config = cli.config_from_args(parser.parse_args(["--preset", "report", "--dropout", "0.5", "--epochs", "2"]),
                                  ExtendedConfig)
    assert isinstance(config, ExtendedConfig)
    assert (config.dropout, config.epochs, config.architecture) == (0.5, 2, "seed_cnn")
    assert cli.config_from_args(parser.parse_args([]), ExtendedConfig).dropout == 0.25  # the default
    with pytest.raises(ConfigError, match="dropout"):
        cli.config_from_args(parser.parse_args(["--dropout", "0.9"]), ExtendedConfig)


def _extended_form_script() -> None:
    """An app page that draws the Training form for a config with one more field (AppTest script)."""
    from dataclasses import dataclass

    import streamlit as st

    from fmnist_core.config import TrainConfig
    from fmnist_core.settings import setting
    from ui.training_form import config_from_state, init_state, settings_form

    @dataclass(frozen=True)
    class ExtendedConfig(TrainConfig):
        dropout: float = setting(0.25, label="Dropout", minimum=0.0, maximum=0.8, step=0.05, group="advanced",
                                 help="Share of activations dropped while training.")

    init_state(st.session_state, ExtendedConfig)
    settings_form(ExtendedConfig)
    st.session_state["result"] = config_from_state(st.session_state, ExtendedConfig).to_dict()


def test_an_added_field_is_a_widget_of_the_training_form():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_extended_form_script, default_timeout=60).run()
    assert not at.exception, at.exception
    widget = at.number_input(key="tr_dropout")
    assert (widget.label, widget.value, widget.min, widget.max) == ("Dropout", 0.25, 0.0, 0.8)
    assert widget.help == "Share of activations dropped while training."
    widget.set_value(0.4).run()
    assert not at.exception, at.exception
    assert at.session_state["result"]["dropout"] == 0.4
    assert at.session_state["result"]["epochs"] == PRESETS["default"].epochs


# ---------------------------------------------------------------- the real form agrees with the config
def test_training_form_widgets_carry_the_schema_ranges_and_labels():
    from streamlit.testing.v1 import AppTest

    def script() -> None:
        import streamlit as st

        from ui.training_form import config_from_state, init_state, preset_picker, settings_form

        init_state(st.session_state)
        preset_picker()
        settings_form()
        st.session_state["result"] = config_from_state(st.session_state).to_dict()

    at = AppTest.from_function(script, default_timeout=60).run()
    assert not at.exception, at.exception
    for item in settings_of(TrainConfig):
        if item.kind in (int, float):
            widget = at.number_input(key=f"tr_{item.name}")
            assert (widget.label, widget.min, widget.max) == (item.label, item.info.minimum, item.info.maximum)
    for item in settings_of(AugmentationConfig):
        widget = at.toggle(key=f"aug_{item.name}") if item.kind is bool else at.slider(key=f"aug_{item.name}")
        assert widget.label == item.label
        if item.kind is float:
            assert (widget.min, widget.max) == (item.info.minimum, item.info.maximum)
    assert at.number_input(key="tr_seed").label == "Random seed"
    preset_control = at.segmented_control(key="tr_preset")
    assert preset_control.options == ["Report", "Default", "Best"]  # labels; the values stay seed, default, best
    assert at.session_state["result"] == PRESETS["default"].to_dict()
    at.segmented_control(key="tr_preset").set_value("seed").run()
    assert at.session_state["result"] == PRESETS["seed"].to_dict()
    at.toggle(key="tr_use_subset").set_value(True).run()
    assert at.session_state["result"]["train_limit"] == setting_named(TrainConfig, "train_limit").info.optional_default
