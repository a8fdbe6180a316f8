"""A sweep's search space: which hyperparameters vary, over which values or ranges, and the trials drawn.

Pure and light (no Ray, no TensorFlow, no Streamlit), so the command line, the Training page's form and
the engine validate a space the same way. Names, labels, ranges and help come from the settings schema
(fmnist_core.settings): a sweepable hyperparameter is a declared setting of TrainConfig, or of
`SweepOnlySettings` for "augmentation strength", which only a sweep has.

Why the trials are drawn here and not by Ray Tune's own sampler: the drawn list is written into the
sweep's queue entry when it is submitted, so the Sweeps page can list every planned trial (and its
hyperparameters) while the sweep still waits in the queue, and the same seed always gives the same
trials. Tune then runs exactly that list (a grid over the planned trials) with its ASHA scheduler.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from ..augmentation import NO_AUGMENTATION, AugmentationConfig
from ..config import TrainConfig
from ..errors import ConfigError
from ..settings import Setting, setting, setting_named

MAX_TRIALS = 32  # a sweep is one queue entry; keep one user from holding the engine for days
AUGMENTATION_STRENGTH = "augmentation_strength"
# Ranges of these are drawn on a log scale (a learning rate from 1e-4 to 1e-2 spends as many trials
# between 1e-4 and 1e-3 as between 1e-3 and 1e-2); the others uniformly.
LOG_SCALE = frozenset({"learning_rate", "batch_size"})
# The augmentation at strength 1: the seed report's transforms, rotation up to 15 degrees and random
# erasing of half the images (the `best` recipe's). Strength s scales every amount by s; flips are on for s > 0.
FULL_AUGMENTATION = AugmentationConfig(rotation_deg=15.0, width_shift=0.1, height_shift=0.1, zoom=0.1,
                                       horizontal_flip=True, erasing=0.5)


class SweepSpaceError(ConfigError):
    """A sweep's search space is malformed or impossible (unknown name, value out of range, no trial)."""


@dataclass(frozen=True)
class SweepOnlySettings:
    """Hyperparameters a sweep can vary that are not one TrainConfig field (declared like the others)."""

    augmentation_strength: float = setting(
        0.0, label="Augmentation strength", minimum=0.0, maximum=1.0, step=0.1,
        help="0 = none; 1 = rotation ±15°, shifts and zoom ±10%, horizontal flips and random erasing of half "
        "the images; in between, every amount scaled.")


# The hyperparameters a sweep can vary, in the order tables and charts show them.
SWEEPABLE: tuple[str, ...] = ("learning_rate", "batch_size", "epochs", AUGMENTATION_STRENGTH, "architecture")


def sweep_setting(name: str) -> Setting:
    """The schema entry (label, type, range, choices, help) of a sweepable hyperparameter."""
    if name not in SWEEPABLE:
        raise SweepSpaceError(f"{name!r} cannot be swept; choose from {', '.join(SWEEPABLE)}")
    owner = SweepOnlySettings if name == AUGMENTATION_STRENGTH else TrainConfig
    return setting_named(owner, name)


def augmentation_for_strength(strength: float) -> AugmentationConfig:
    """FULL_AUGMENTATION scaled by strength in [0, 1] (0: no augmentation at all)."""
    sweep_setting(AUGMENTATION_STRENGTH).check(strength)
    if strength == 0:
        return NO_AUGMENTATION
    full = FULL_AUGMENTATION
    return AugmentationConfig(
        rotation_deg=round(full.rotation_deg * strength, 3), width_shift=round(full.width_shift * strength, 4),
        height_shift=round(full.height_shift * strength, 4), zoom=round(full.zoom * strength, 4),
        horizontal_flip=True, erasing=round(full.erasing * strength, 4))


class DimensionKind(StrEnum):
    VALUES = "values"  # a list of values (one value: fixed for every trial)
    RANGE = "range"  # low..high, drawn per trial (log scale for LOG_SCALE names)


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter of the space: a list of values, or a numeric range."""

    name: str
    kind: DimensionKind
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None

    @property
    def log(self) -> bool:
        return self.kind == DimensionKind.RANGE and self.name in LOG_SCALE

    @property
    def varies(self) -> bool:
        return self.kind == DimensionKind.RANGE or len(self.values) > 1

    def text(self) -> str:
        """As the command line writes it: `0.001,0.003` or `0.0001:0.01`."""
        if self.kind == DimensionKind.RANGE:
            return f"{_number(self.low)}:{_number(self.high)}"
        return ",".join(_number(v) if isinstance(v, float) else str(v) for v in self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": str(self.kind), "values": list(self.values), "low": self.low,
                "high": self.high}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dimension:
        return cls(str(data["name"]), DimensionKind(data["kind"]), tuple(data.get("values") or ()),
                   data.get("low"), data.get("high"))

    def draw(self, rng: random.Random) -> Any:
        """One value for a trial (a range's value rounded to 3 significant digits, or to a whole number)."""
        if self.kind == DimensionKind.VALUES:
            return rng.choice(self.values)
        assert self.low is not None and self.high is not None
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if sweep_setting(self.name).kind is int:
            return int(min(self.high, max(self.low, round(value))))
        return float(min(self.high, max(self.low, float(f"{value:.3g}"))))


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _convert(item: Setting, raw: str) -> Any:
    raw = raw.strip()
    where = f"{item.label} ({item.name})"
    if item.kind is str:
        return raw
    try:
        if item.kind is int:
            number = float(raw)
            if not number.is_integer():
                raise ValueError
            return int(number)
        return float(raw)
    except ValueError:
        kind = "a whole number" if item.kind is int else "a number"
        raise SweepSpaceError(f"{where}: {raw!r} is not {kind}") from None


def _checked(item: Setting, value: Any) -> Any:
    try:
        item.check(value)
    except ConfigError as exc:
        raise SweepSpaceError(f"sweep: {exc}") from None
    return value


def parse_dimension(name: str, text: str) -> Dimension:
    """`a,b,c` (values) or `low:high` (a numeric range), each value checked against the setting's schema."""
    item = sweep_setting(name)
    text = (text or "").strip()
    if not text:
        raise SweepSpaceError(f"{item.label} ({name}): give a value, a list `a,b` or a range `low:high`")
    if ":" in text:
        if item.kind not in (int, float):
            raise SweepSpaceError(f"{item.label} ({name}) takes a list of values, not a range")
        parts = text.split(":")
        if len(parts) != 2:
            raise SweepSpaceError(f"{item.label} ({name}): a range is `low:high`, got {text!r}")
        low, high = (_checked(item, _convert(item, part)) for part in parts)
        if low >= high:
            raise SweepSpaceError(f"{item.label} ({name}): the range {text!r} is empty (low must be below high)")
        return Dimension(name, DimensionKind.RANGE, low=float(low), high=float(high))
    values: list[Any] = []
    for part in text.split(","):
        if not part.strip():
            raise SweepSpaceError(f"{item.label} ({name}): empty value in {text!r}")
        value = _checked(item, _convert(item, part))
        if value not in values:
            values.append(value)
    return Dimension(name, DimensionKind.VALUES, values=tuple(values))


def trial_config(base: TrainConfig, hyperparameters: dict[str, Any]) -> TrainConfig:
    """The base configuration with one trial's hyperparameters applied (validated by TrainConfig)."""
    changes = {name: value for name, value in hyperparameters.items() if name in SWEEPABLE}
    strength = changes.pop(AUGMENTATION_STRENGTH, None)
    if strength is not None:
        changes["augmentation"] = augmentation_for_strength(float(strength))
    if "architecture" in changes:
        changes["architecture_spec"] = None  # a built-in network by name
    return replace(base, **changes)


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs: the base configuration, the space, the trials drawn from it, early stopping."""

    base: dict[str, Any]  # TrainConfig.to_dict() of the settings no dimension changes
    dimensions: tuple[Dimension, ...]
    trials: tuple[dict[str, Any], ...]  # each trial's hyperparameters (every dimension's value)
    asha: bool = False
    seed: int = 0
    grid: bool = False  # the trials are the whole grid of the listed values
    metric: str = "val_accuracy"  # what ASHA compares and the best trial is chosen by

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    @property
    def varying(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions if d.varies)

    @property
    def max_epochs(self) -> int:
        return max(int(trial_config(self.base_config(), hp).epochs) for hp in self.trials)

    def base_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.base)

    def config_of(self, index: int) -> TrainConfig:
        return trial_config(self.base_config(), self.trials[index])

    def summary(self) -> str:
        """The sweep in one line, for the queue table."""
        space = " · ".join(f"{d.name} {d.text()}" for d in self.dimensions if d.varies)
        fixed = " · ".join(f"{d.name} {d.text()}" for d in self.dimensions if not d.varies)
        parts = [f"sweep of {len(self.trials)} trials", space]
        if fixed:
            parts.append(fixed)
        base = self.base_config()
        if base.train_limit:
            parts.append(f"{base.train_limit:,} images")
        parts.append("ASHA" if self.asha else "no early stopping")
        return " · ".join(p for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "dimensions": [d.to_dict() for d in self.dimensions],
                "trials": [dict(t) for t in self.trials], "asha": self.asha, "seed": self.seed, "grid": self.grid,
                "metric": self.metric}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        return cls(dict(data["base"]), tuple(Dimension.from_dict(d) for d in data["dimensions"]),
                   tuple(dict(t) for t in data["trials"]), bool(data.get("asha")), int(data.get("seed", 0)),
                   bool(data.get("grid")), str(data.get("metric", "val_accuracy")))


def grid_size(dimensions: tuple[Dimension, ...]) -> int | None:
    """How many distinct trials the listed values give; None when a dimension is a range."""
    if any(d.kind == DimensionKind.RANGE for d in dimensions):
        return None
    return math.prod(len(d.values) for d in dimensions)


def draw_trials(dimensions: tuple[Dimension, ...], trials: int | None, seed: int) -> tuple[list[dict[str, Any]], bool]:
    """The trials' hyperparameters and whether they are the whole grid.

    Only lists: the whole grid when trials is None or equals its size, else `trials` distinct grid points
    drawn with the seed (in grid order). With a range: `trials` independent draws (trials is required).
    """
    size = grid_size(dimensions)
    rng = random.Random(seed)
    names = [d.name for d in dimensions]
    if size is not None:
        grid = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(d.values for d in dimensions))]
        if trials is None or trials == size:
            return grid, True
        if trials > size:
            raise SweepSpaceError(f"{trials} trials asked for, but the listed values give only {size} distinct "
                                  "combinations; ask for fewer trials or give a range (low:high)")
        picked = sorted(rng.sample(range(size), trials))
        return [grid[i] for i in picked], False
    if trials is None:
        raise SweepSpaceError("a sweep with a range (low:high) needs a number of trials")
    return [{d.name: d.draw(rng) for d in dimensions} for _ in range(trials)], False


def make_sweep(base: TrainConfig, texts: dict[str, str | None], *, trials: int | None = None, asha: bool = False,
               seed: int = 0) -> SweepSpec:
    """Parse and validate a space given as text per hyperparameter (None or "" = not part of the sweep),
    draw its trials, and check each trial's configuration. Raises SweepSpaceError for an impossible space."""
    unknown = sorted(set(texts) - set(SWEEPABLE))
    if unknown:
        raise SweepSpaceError(f"cannot sweep {', '.join(unknown)}; choose from {', '.join(SWEEPABLE)}")
    dimensions = tuple(parse_dimension(name, texts[name]) for name in SWEEPABLE  # type: ignore[arg-type]
                       if texts.get(name) not in (None, ""))
    if not any(d.varies for d in dimensions):
        raise SweepSpaceError("nothing varies: give at least one hyperparameter two values (a,b) or a range "
                              "(low:high)")
    if trials is not None and not 1 <= trials <= MAX_TRIALS:
        raise SweepSpaceError(f"a sweep has between 1 and {MAX_TRIALS} trials, not {trials}")
    drawn, whole_grid = draw_trials(dimensions, trials, seed)
    if len(drawn) > MAX_TRIALS:
        raise SweepSpaceError(f"the listed values give {len(drawn)} combinations, more than {MAX_TRIALS} trials; "
                              "list fewer values or set a number of trials to draw from them")
    if base.architecture_spec is not None and "architecture" not in {d.name for d in dimensions}:
        raise SweepSpaceError("a sweep trains built-in architectures; choose them with the architecture setting")
    for index, hyperparameters in enumerate(drawn):
        try:
            trial_config(base, hyperparameters)
        except ConfigError as exc:
            shown = ", ".join(f"{k}={v}" for k, v in hyperparameters.items())
            raise SweepSpaceError(f"trial {index + 1} ({shown}) is impossible: {exc}") from None
    spec = SweepSpec(base.to_dict(), dimensions, tuple(drawn), asha=asha, seed=seed, grid=whole_grid)
    if asha:
        if len(drawn) < 2:
            raise SweepSpaceError("early stopping (ASHA) compares trials: it needs at least 2 trials")
        if spec.max_epochs < 2:
            raise SweepSpaceError("early stopping (ASHA) stops trials between epochs: give them at least 2 epochs")
    return spec


__all__ = [
    "AUGMENTATION_STRENGTH", "Dimension", "DimensionKind", "FULL_AUGMENTATION", "MAX_TRIALS", "SWEEPABLE",
    "SweepOnlySettings", "SweepSpaceError", "SweepSpec", "augmentation_for_strength", "draw_trials", "grid_size",
    "make_sweep", "parse_dimension", "sweep_setting", "trial_config",
]
