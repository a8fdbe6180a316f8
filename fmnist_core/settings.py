"""One schema for the training settings: each setting is declared once, on its config dataclass.

A field declared with ``setting(default, label=..., minimum=..., ...)`` carries its label, help text,
range, step and choices in ``dataclasses.field`` metadata. ``settings_of(cls)`` reads them back as
typed ``Setting`` descriptors (name, type and default come from the field itself), and everything
else is derived from that list: the config's validation (``check_settings`` in ``__post_init__``), the
Streamlit widgets (ui/settings_widgets.py) and the command-line options (fmnist_core/cli.py). Adding a
hyperparameter is therefore one field declaration. Streamlit-free and TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

SETTING_METADATA_KEY = "fmnist_setting"

# Where a setting's widget goes on the Training page (augmentation settings have their own group).
GROUPS = ("main", "advanced", "augmentation")
WIDGETS = ("number", "slider", "select", "toggle")

Choices = tuple[Any, ...] | Callable[[], tuple[Any, ...]]


@dataclass(frozen=True)
class SettingInfo:
    """What a field's metadata holds: everything about a setting except its name, type and default."""

    label: str
    help: str = ""
    minimum: float | None = None  # inclusive
    maximum: float | None = None  # inclusive
    step: float | None = None
    choices: Choices | None = None  # a tuple, or a function returning one (for registries that grow)
    choice_labels: Mapping[Any, str] | Callable[[Any], str] | None = None
    validator: Callable[[Any], object] | None = None  # raises ConfigError (replaces the choices check)
    group: str = "main"
    widget: str | None = None  # None: toggle for bool, select for choices, number otherwise
    number_format: str | None = None  # printf-style format of the number or slider widget, e.g. "%.5f"
    flag: str | None = None  # command-line option; None: --<name with dashes>
    cli: bool = True  # offer a command-line option
    form: bool = True  # offer a widget
    optional_label: str = ""  # for `X | None` settings: the label of the toggle that turns the value on
    optional_default: Any = None  # the value the widget shows while the setting is off (None)

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"setting group must be one of {GROUPS}, got {self.group!r}")
        if self.widget is not None and self.widget not in WIDGETS:
            raise ValueError(f"setting widget must be one of {WIDGETS}, got {self.widget!r}")


@dataclass(frozen=True)
class Setting:
    """One setting as read from its dataclass field: the field's name, type and default plus its info."""

    name: str
    kind: type  # int, float, bool or str
    default: Any
    optional: bool  # declared as `X | None`: None means "off"
    info: SettingInfo

    @property
    def label(self) -> str:
        return self.info.label

    @property
    def options(self) -> tuple[Any, ...] | None:
        """The allowed values of a choice setting (None for a free value)."""
        choices = self.info.choices
        return tuple(choices()) if callable(choices) else choices

    def choice_label(self, value: Any) -> str:
        labels = self.info.choice_labels
        if labels is None:
            return str(value)
        if callable(labels):
            return labels(value)
        return labels.get(value, str(value))

    @property
    def widget_kind(self) -> str:
        if self.info.widget is not None:
            return self.info.widget
        if self.kind is bool:
            return "toggle"
        if self.info.choices is not None:
            return "select"
        return "number"

    @property
    def cli_flag(self) -> str:
        return self.info.flag or "--" + self.name.replace("_", "-")

    @property
    def range_text(self) -> str:
        low, high = (_number_text(v) for v in (self.info.minimum, self.info.maximum))
        if low and high:
            return f"between {low} and {high}"
        return f"at least {low}" if low else f"at most {high}"

    def check(self, value: Any, owner: str = "") -> None:
        """Raise ConfigError when value is not of this setting's type or outside its range or choices."""
        where = f"{self.info.label} ({owner}{self.name})"
        if value is None:
            if self.optional:
                return
            raise ConfigError(f"{where} must be set")
        if not _is_kind(value, self.kind):
            raise ConfigError(f"{where} must be {_KIND_WORDS[self.kind]}, got {value!r}")
        if self.info.validator is not None:
            self.info.validator(value)
        elif self.info.choices is not None:
            options = self.options or ()
            if value not in options:
                raise ConfigError(f"{where} must be one of {', '.join(map(str, options))}; got {value!r}")
        if self.kind in (int, float):
            low, high = self.info.minimum, self.info.maximum
            if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
                raise ConfigError(f"{where} must be {self.range_text}, got {value!r}")

    def widget_value(self, value: Any) -> Any:
        """The value as the widget holds it (plain Python int/float/bool/str; the off-value for None)."""
        if value is None:
            value = self.info.optional_default if self.info.optional_default is not None else self.info.minimum
        return self.kind(value) if value is not None else None


def _number_text(value: float | None) -> str:
    if value is None:
        return ""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


_KIND_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a text"}


def _is_kind(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, numbers.Integral)
    if kind is float:
        return isinstance(value, numbers.Real)
    return isinstance(value, kind)


def setting(
    default: Any = dataclasses.MISSING,
    *,
    label: str,
    default_factory: Any = dataclasses.MISSING,
    **info: Any,
) -> Any:
    """A dataclass field that declares a setting (see SettingInfo for the keywords)."""
    metadata = {SETTING_METADATA_KEY: SettingInfo(label=label, **info)}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def _kind_of(annotation: Any) -> tuple[type, bool]:
    """(type, optional) of a field annotation such as `int`, `float` or `int | None`."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [arg for arg in args if arg is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"a setting has one type (or that type | None), not {annotation!r}")
        return kinds[0], True
    return annotation, False


@functools.cache
def settings_of(cls: type) -> tuple[Setting, ...]:
    """The settings a config dataclass declares, in field order (fields without setting metadata
    are skipped)."""
    hints = typing.get_type_hints(cls)
    found = []
    for field in dataclasses.fields(cls):
        info = field.metadata.get(SETTING_METADATA_KEY)
        if info is None:
            continue
        kind, optional = _kind_of(hints[field.name])
        if kind not in _KIND_WORDS:
            raise TypeError(f"setting {cls.__name__}.{field.name} has unsupported type {kind!r}")
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = None
        found.append(Setting(field.name, kind, default, optional, info))
    return tuple(found)


def setting_named(cls: type, name: str) -> Setting:
    for item in settings_of(cls):
        if item.name == name:
            return item
    raise KeyError(f"{cls.__name__} has no setting {name!r}")


def check_settings(config: Any, owner: str = "", *, skip: tuple[str, ...] = ()) -> None:
    """Validate every declared setting of a config instance (called from its __post_init__), except those
    named in ``skip`` (which the config checks another way)."""
    for item in settings_of(type(config)):
        if item.name not in skip:
            item.check(getattr(config, item.name), owner)


__all__ = ["Setting", "SettingInfo", "setting", "settings_of", "setting_named", "check_settings", "GROUPS"]
