"""On-the-fly augmentation as one Keras layer stack, shared by the live preview and training."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import ConfigError
from .photometric import PHOTOMETRIC_HELP
from .settings import check_settings, setting, settings_of

# Random erasing as in Zhong et al. (2017): the erased area is 2-25% of the image (they use up to 40%; a
# 28x28 garment loses its identity sooner), aspect ratio 0.3-3.3, filled with uniform noise.
ERASE_AREA = (0.02, 0.25)
ERASE_ASPECT = (0.3, 1 / 0.3)
ERASING_HELP = (
    f"Replace a random rectangle ({ERASE_AREA[0]:.0%}-{ERASE_AREA[1]:.0%} of the image) with noise in this "
    "share of the images."
)


@dataclass(frozen=True)
class AugmentationConfig:
    """Each transform is off at its zero value; ranges follow ImageDataGenerator's meaning.

    Every field is a setting (fmnist_core.settings): its label, range and step here are what the
    Training page, the Augmentation lab, the command line and the validation below all use.
    """

    rotation_deg: float = setting(0.0, label="Rotation (± degrees)", minimum=0.0, maximum=180.0, step=1.0,
                                  group="augmentation", widget="slider", flag="--rotation", number_format="%.0f°",
                                  help="Rotate each image by a random angle in [-deg, +deg].")
    width_shift: float = setting(0.0, label="Width shift (± fraction)", minimum=0.0, maximum=0.5, step=0.01,
                                 group="augmentation", widget="slider",
                                 help="Shift sideways by a random fraction of the width in [-f, +f].")
    height_shift: float = setting(0.0, label="Height shift (± fraction)", minimum=0.0, maximum=0.5, step=0.01,
                                  group="augmentation", widget="slider",
                                  help="Shift up or down by a random fraction of the height in [-f, +f].")
    zoom: float = setting(0.0, label="Zoom (± fraction)", minimum=0.0, maximum=0.9, step=0.01,
                          group="augmentation", widget="slider",
                          help="Zoom by a random factor in [1 - z, 1 + z].")
    horizontal_flip: bool = setting(False, label="Horizontal flip", group="augmentation", flag="--flip",
                                    help="Mirror half of the images left to right.")
    erasing: float = setting(0.0, label="Random erasing (probability)", minimum=0.0, maximum=1.0, step=0.05,
                             group="augmentation", widget="slider", help=ERASING_HELP)
    photometric: float = setting(0.0, label="Photometric (photos)", minimum=0.0, maximum=1.0, step=0.05,
                                 group="augmentation", widget="slider", help=PHOTOMETRIC_HELP)

    def __post_init__(self) -> None:
        check_settings(self, owner="augmentation ")

    @property
    def enabled(self) -> bool:
        """True when any transform is on (every setting is off at its zero value)."""
        return any(getattr(self, item.name) for item in settings_of(type(self)))

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
    import keras  # keep `import fmnist_core` light

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
    if config.photometric:
        from .photometric import photometric_layer

        layers.append(photometric_layer(config.photometric, seed=layer_seed(6)))
    if config.erasing:
        layers.append(random_erasing_layer(config.erasing, seed=layer_seed(5)))
    return keras.Sequential(layers, name="augmentation")


def random_erasing_layer(probability: float, seed: int | None = None):
    """A Keras layer that, with this probability per image, replaces one random rectangle by noise.

    Written here rather than keras.layers.RandomErasing: Keras' layer samples its probability itself
    (factor p means "a probability drawn from [0, p]") and its `scale` is an aspect ratio, so the
    lab's slider would not mean what it says. Whole-batch tensor ops: no per-image Python.
    """
    import keras
    from keras import ops

    class RandomRectErasing(keras.layers.Layer):
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, images, training=True):
            if not training:
                return images
            shape = ops.shape(images)
            batch, height, width = shape[0], shape[1], shape[2]
            draw = lambda low, high: keras.random.uniform(  # noqa: E731
                (batch, 1, 1, 1), low, high, seed=self.seed_generator
            )
            area = draw(*ERASE_AREA)
            log_aspect = draw(float(np.log(ERASE_ASPECT[0])), float(np.log(ERASE_ASPECT[1])))
            aspect = ops.exp(log_aspect)
            h_frac = ops.minimum(ops.sqrt(area * aspect), 1.0)
            w_frac = ops.minimum(ops.sqrt(area / aspect), 1.0)
            top = draw(0.0, 1.0) * (1.0 - h_frac)
            left = draw(0.0, 1.0) * (1.0 - w_frac)
            apply = ops.cast(draw(0.0, 1.0) < probability, images.dtype)
            rows = (ops.cast(ops.arange(height), "float32") + 0.5) / ops.cast(height, "float32")
            cols = (ops.cast(ops.arange(width), "float32") + 0.5) / ops.cast(width, "float32")
            rows = ops.reshape(rows, (1, -1, 1, 1))
            cols = ops.reshape(cols, (1, 1, -1, 1))
            inside = (rows >= top) & (rows < top + h_frac) & (cols >= left) & (cols < left + w_frac)
            mask = ops.cast(inside, images.dtype) * apply
            noise = keras.random.uniform(shape, 0.0, 1.0, seed=self.seed_generator, dtype=images.dtype)
            return images * (1.0 - mask) + noise * mask

        def compute_output_shape(self, input_shape):
            return input_shape

    return RandomRectErasing(name="random_erasing")


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
