"""Training configuration and the named presets (seed report, default, best)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .archspec import ArchitectureSpec, spec_from_dict, validate
from .augmentation import NO_AUGMENTATION, SEED_REPORT_AUGMENTATION, AugmentationConfig
from .constants import TRAIN_SIZE, VALIDATION_SIZE
from .errors import ConfigError
from .models import ARCHITECTURES, get_architecture
from .settings import check_settings, setting

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
VALIDATION_MODES = ("holdout", "test")
VALIDATION_LABELS = {"holdout": f"Hold-out ({VALIDATION_SIZE:,} training images)", "test": "Test set (seed report)"}
DEFAULT_SUBSET = 5000  # the training subset offered when a user turns "Train on a subset" on


def _architecture_names() -> tuple[str, ...]:
    return tuple(ARCHITECTURES)


def _architecture_title(name: str) -> str:
    return get_architecture(name).title


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Each field declared with ``setting(...)`` is a
    hyperparameter: its label, help, range and step here drive the validation below, the Training
    page's form (ui/settings_widgets.py) and the command line's options (fmnist_core/cli.py)."""

    architecture: str = setting(
        "slim_cnn", label="Architecture", choices=_architecture_names, choice_labels=_architecture_title,
        validator=get_architecture,
        help="seed_cnn is the seed report's model; slim_cnn (the default) uses batch norm, early pooling and "
        "keeps its widest layers on the smallest map.")
    epochs: int = setting(6, label="Epochs", minimum=1, maximum=500, step=1)
    # 128 rather than 256: as many images per second on 2 cores, twice the updates (86% test
    # accuracy after 150 steps: 19,200 images instead of 24,300).
    batch_size: int = setting(128, label="Batch size", minimum=1, maximum=4096, step=16)
    learning_rate: float = setting(3e-3, label="Learning rate", minimum=1e-5, maximum=1.0, step=0.0005,
                                   number_format="%.5f", help="The peak learning rate (after the warm-up).")
    optimizer: str = setting("adamw", label="Optimizer", choices=OPTIMIZERS)
    schedule: str = setting("cosine", label="Learning-rate schedule", choices=SCHEDULES,
                            help="cosine: warm up, then decay smoothly to 1% of the rate; constant: the seed "
                            "report's choice.")
    warmup_epochs: float = setting(0.05, label="Warm-up epochs", minimum=0.0, maximum=50.0, step=0.5,
                                   group="advanced", help="Raise the learning rate linearly over this many epochs.")
    weight_decay: float = setting(5e-4, label="Weight decay", minimum=0.0, maximum=1.0, step=0.0001,
                                  number_format="%.5f", group="advanced",
                                  help="Decoupled weight decay (AdamW, SGD); Adam ignores it.")
    label_smoothing: float = setting(0.1, label="Label smoothing", minimum=0.0, maximum=0.5, step=0.05,
                                     group="advanced", help="Train towards 1 - s on the true class instead of 1.")
    # Momentum of the exponential moving average of the weights that is validated and saved; 0 = off.
    # It warms up as min(momentum, (1 + step) / (10 + step)) (training.warm_up_ema).
    ema_momentum: float = setting(0.99, label="Weight EMA momentum", minimum=0.0, maximum=0.9999, step=0.001,
                                  number_format="%.4f", group="advanced",
                                  help="Validate and save a moving average of the weights (0 turns it off).")
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    seed: int = setting(42, label="Random seed", minimum=0, maximum=2**31 - 1, step=1,
                        help="Seeds the weights, the shuffling and the augmentation: the same seed trains the "
                        "same model.")
    # "holdout": validate on 5,000 training images; "test": the seed report's habit.
    validation: str = setting("holdout", label="Validate on", choices=VALIDATION_MODES, choice_labels=VALIDATION_LABELS,
                              help="holdout (5,000 training images) or test (the seed report's habit).")
    # Train on only this many training images (stratified); None means all.
    train_limit: int | None = setting(None, label="Training images", minimum=100, maximum=TRAIN_SIZE - VALIDATION_SIZE,
                                      step=500, optional_label="Train on a subset", optional_default=DEFAULT_SUBSET,
                                      help="Train on a stratified subset of this many images: for quick runs.")
    # bfloat16 compute (float32 weights) on CPUs with AVX512_BF16 and float16 on GPUs: about 1.2x
    # faster per image on this project's 2-core CPU.
    mixed_precision: bool = setting(True, label="Mixed precision", group="advanced",
                                    help="bfloat16 compute on CPUs that support it, float16 on GPUs; weights stay "
                                    "float32.")
    # Test-time augmentation: the saved (and validated) model averages its predictions for the image and
    # its mirror image (fmnist_core.mirror). Training costs the same; each prediction costs two.
    mirror_averaging: bool = setting(False, label="Mirror averaging", group="advanced",
                                     help="Test-time augmentation: predict on each image and its mirror image and "
                                     "average the two. Training costs the same; every prediction costs twice as much.")
    # Training images rendered as photos and sent through the upload pipeline, added to the training set
    # (fmnist_core.photo_renders): the model then sees what the pipeline makes of a photo. A share of the
    # training images, so a quick run on a subset renders few. Rendered once per machine and cached
    # (constants.cache_dir); the first run that asks for many takes minutes to render them.
    photo_renders: float = setting(0.0, label="Photo renders (share)", minimum=0.0, maximum=1.0, step=0.05,
                                   group="augmentation",
                                   help="Add photo renders of this share of the training images (0.2 of 55,000: "
                                   "11,000): each rendered as a photo (coloured, on a textured surface, lit "
                                   "unevenly, rotated, saved as JPEG) and sent through the upload pipeline, so the "
                                   "model learns what the Classify page makes of a photo. Rendered once, then "
                                   "reused from this machine's cache (about 70 ms per image on one core the "
                                   "first time); 0 turns it off.")
    # A custom network (fmnist_core.archspec): when set, the model is built from it and `architecture`
    # is its name; None means the built-in architecture named by `architecture`. Not a form or CLI setting:
    # it is set by `train --arch-file` and by the builder page's hand-off.
    architecture_spec: ArchitectureSpec | None = None

    def __post_init__(self) -> None:
        # A custom network's name is not in the registry: its spec is checked instead of the name.
        check_settings(self, skip=() if self.architecture_spec is None else ("architecture",))
        if not isinstance(self.augmentation, AugmentationConfig):
            raise ConfigError(f"augmentation must be an AugmentationConfig, got {type(self.augmentation).__name__}")
        if self.architecture_spec is not None:
            validate(self.architecture_spec)
            builtin = ARCHITECTURES.get(self.architecture_spec.name)
            if builtin is not None and builtin.spec.layers != self.architecture_spec.layers:
                raise ConfigError(f"{self.architecture_spec.name!r} is a built-in architecture's name; "
                                  "give your changed network a name of its own")
            if self.architecture != self.architecture_spec.name:
                raise ConfigError(f"architecture {self.architecture!r} does not match the specification's name "
                                  f"{self.architecture_spec.name!r}")
        # Folded in from training.validate_for_training, so every entry point gets it.
        if self.train_limit is not None and self.train_limit < self.batch_size:
            raise ConfigError(
                f"the training subset ({self.train_limit:,} images) is smaller than one batch ({self.batch_size})"
            )

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["augmentation"] = self.augmentation.to_dict()
        values["architecture_spec"] = self.architecture_spec.to_dict() if self.architecture_spec else None
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        values["augmentation"] = AugmentationConfig.from_dict(values.get("augmentation"))
        if values.get("architecture_spec") is not None:
            values["architecture_spec"] = spec_from_dict(values["architecture_spec"])
        known = {key: values[key] for key in cls.__dataclass_fields__ if key in values}
        return cls(**known)

    def with_changes(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)

    def resolved_architecture_spec(self) -> ArchitectureSpec:
        """The network this config trains: its own specification, or the built-in one it names."""
        return self.architecture_spec or get_architecture(self.architecture).spec


PRESETS: dict[str, TrainConfig] = {
    # The seed report: Adam at 1e-3, plain cross-entropy, batch 64, 50 epochs, augmentation, validated
    # on the test set.
    "seed": TrainConfig(
        architecture="seed_cnn",
        epochs=50,
        batch_size=64,
        learning_rate=1e-3,
        optimizer="adam",
        schedule="constant",
        warmup_epochs=0.0,
        weight_decay=0.0,
        label_smoothing=0.0,
        augmentation=SEED_REPORT_AUGMENTATION,
        validation="test",
        mixed_precision=False,
        ema_momentum=0.0,
    ),
    # Batch norm, AdamW with warm-up then cosine decay, label smoothing, weight EMA, bfloat16 where
    # native; no augmentation (horizontal flips cost 0.4 points in a 5-epoch run: docs/compute.md), but photo
    # renders of a fifth of the training images, so photos from the Classify page are classified nearly as well
    # as clean pictures (docs/compute.md, "Photo renders").
    "default": TrainConfig(photo_renders=0.2),
    # Larger, about 6x longer, regularised for the long schedule: flips, shifts of up to ~3 pixels, random
    # erasing of half the images, a stronger decoupled weight decay; trained on all 60,000 images (the
    # test curve is only watched: the final weights are kept, no epoch is picked by it); predictions
    # average the image and its mirror image.
    "best": TrainConfig(
        architecture="large_cnn",
        epochs=40,
        weight_decay=0.02,
        augmentation=AugmentationConfig(width_shift=0.1, height_shift=0.1, horizontal_flip=True, erasing=0.5),
        validation="test",
        mirror_averaging=True,
    ),
}
PRESET_DESCRIPTIONS: dict[str, str] = {
    "seed": "The seed report's exact recipe (85.88% in the report).",
    "default": "Fast and accurate: the project's default recipe.",
    "best": f"Highest accuracy: a larger CNN, {PRESETS['best'].epochs} epochs on all 60,000 images with flips, "
    "shifts and random erasing; predictions average each image and its mirror image.",
}


# What the Training page calls each preset ("Report" rather than "Seed", which sits beside the Random seed
# field); the keys stay as they are for the command line and saved runs, and "report" is an alias.
PRESET_LABELS: dict[str, str] = {"seed": "Report", "default": "Default", "best": "Best"}
PRESET_ALIASES: dict[str, str] = {"report": "seed"}


def preset(name: str) -> TrainConfig:
    try:
        return PRESETS[PRESET_ALIASES.get(name, name)]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


__all__ = ["TrainConfig", "PRESETS", "PRESET_DESCRIPTIONS", "PRESET_LABELS", "PRESET_ALIASES", "preset",
           "NO_AUGMENTATION"]
