"""On-the-fly augmentation as one Keras layer stack, shared by the live preview and training."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import ConfigError


@dataclass(frozen=True)
class AugmentationConfig:
    """Each transform is off at its zero value; ranges follow ImageDataGenerator's meaning."""

    rotation_deg: float = 0.0  # random rotation in [-deg, +deg]
    width_shift: float = 0.0  # fraction of the width, in [-f, +f]
    height_shift: float = 0.0
    zoom: float = 0.0  # zoom factor in [1 - z, 1 + z]
    horizontal_flip: bool = False

    def __post_init__(self) -> None:
        checks = {
            "rotation_deg": (self.rotation_deg, 0.0, 180.0),
            "width_shift": (self.width_shift, 0.0, 0.5),
            "height_shift": (self.height_shift, 0.0, 0.5),
            "zoom": (self.zoom, 0.0, 0.9),
        }
        for name, (value, low, high) in checks.items():
            if not low <= float(value) <= high:
                raise ConfigError(f"augmentation {name}={value} is outside [{low}, {high}]")

    @property
    def enabled(self) -> bool:
        return bool(
            self.rotation_deg or self.width_shift or self.height_shift or self.zoom or self.horizontal_flip
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> AugmentationConfig:
        values = dict(values or {})
        known = {key: values[key] for key in cls.__dataclass_fields__ if key in values}
        return cls(**known)


NO_AUGMENTATION = AugmentationConfig()
# The seed report's ImageDataGenerator settings: rotation, shifts, zoom and horizontal flip.
SEED_REPORT_AUGMENTATION = AugmentationConfig(
    rotation_deg=10.0, width_shift=0.1, height_shift=0.1, zoom=0.1, horizontal_flip=True
)


def build_augmentation(config: AugmentationConfig, seed: int | None = None):
    """The keras.Sequential of random layers for this config (an identity stack when all are off)."""
    import keras  # noqa: PLC0415 - keep `import fmnist_core` light

    def layer_seed(offset: int) -> int | None:
        return None if seed is None else seed + offset

    layers: list[Any] = []
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    if config.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=layer_seed(1)))
    if config.rotation_deg:
        layers.append(keras.layers.RandomRotation(config.rotation_deg / 360.0, seed=layer_seed(2), **fill))
    if config.zoom:
        layers.append(keras.layers.RandomZoom(config.zoom, config.zoom, seed=layer_seed(3), **fill))
    if config.width_shift or config.height_shift:
        layers.append(
            keras.layers.RandomTranslation(
                config.height_shift, config.width_shift, seed=layer_seed(4), **fill
            )
        )
    return keras.Sequential(layers, name="augmentation")


def augment_preview(image: np.ndarray, config: AugmentationConfig, count: int = 8, seed: int = 0) -> np.ndarray:
    """count augmented copies of one uint8 28x28 image, reproducible for a seed, as uint8."""
    if count < 1:
        raise ConfigError("count must be at least 1")
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[..., 0]
    batch = np.repeat((image.astype(np.float32) / 255.0)[np.newaxis, ..., np.newaxis], count, axis=0)
    stack = build_augmentation(config, seed=seed)
    out = np.asarray(stack(batch, training=True)) if stack.layers else batch
    return np.clip(np.rint(out[..., 0] * 255.0), 0, 255).astype(np.uint8)
