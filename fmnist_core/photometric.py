"""Photometric augmentation: the garment's tones change the way a photo's do after the upload pipeline.

A photo's garment reaches the model with tones that clean Fashion-MNIST images never have: its
shading is curved by the camera and the light (a gamma), flattened or strengthened (contrast),
and a garment as light as the surface it lies on is lifted to a floor so it stays visible
(fmnist_core.garment's INTENSITY_FLOOR), which looks like a brightness offset inside the
garment.  This layer draws those three changes per image, on the garment only (the background
stays black, as the pipeline leaves it), and stretches the result back to a maximum of 1 as the
pipeline does.  Whole-batch tensor ops, so it runs inside the tf.data map like the other layers.
"""

from __future__ import annotations

import math
from typing import Final

#: Gamma is drawn log-uniformly from [1 / GAMMA_RANGE, GAMMA_RANGE].
GAMMA_RANGE: Final[float] = 2.0
#: Contrast factor around the garment's mean, drawn from [1 - CONTRAST_RANGE, 1 + CONTRAST_RANGE].
CONTRAST_RANGE: Final[float] = 0.5
#: Brightness offset inside the garment, drawn from [-BRIGHTNESS_RANGE, BRIGHTNESS_RANGE].
BRIGHTNESS_RANGE: Final[float] = 0.25
#: A pixel at this value or above is fully garment (the soft mask ramps from 0 up to it).
GARMENT_LEVEL: Final[float] = 0.1

PHOTOMETRIC_HELP: Final[str] = (
    "Share of the images whose garment gets a random gamma (1/2-2), contrast (x0.5-1.5) and brightness "
    "(+-0.25) change, as photos' garments do after the upload pipeline; the background stays black."
)


def photometric_layer(probability: float, seed: int | None = None):
    """A Keras layer that, with this probability per image, changes the garment's gamma, contrast and brightness."""
    import keras  # keep `import fmnist_core` light
    from keras import ops

    log_gamma = math.log(GAMMA_RANGE)

    class RandomPhotometric(keras.layers.Layer):
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, images, training=True):
            if not training:
                return images
            batch = ops.shape(images)[0]
            draw = lambda low, high: keras.random.uniform(  # noqa: E731
                (batch, 1, 1, 1), low, high, seed=self.seed_generator
            )
            gamma = ops.exp(draw(-log_gamma, log_gamma))
            contrast = draw(1.0 - CONTRAST_RANGE, 1.0 + CONTRAST_RANGE)
            brightness = draw(-BRIGHTNESS_RANGE, BRIGHTNESS_RANGE)
            apply = ops.cast(draw(0.0, 1.0) < probability, images.dtype)

            x = ops.clip(images, 0.0, 1.0)
            garment = ops.clip(x / GARMENT_LEVEL, 0.0, 1.0)
            toned = ops.power(x + 1e-6, gamma)
            area = ops.sum(garment, axis=(1, 2, 3), keepdims=True) + 1e-6
            mean = ops.sum(toned * garment, axis=(1, 2, 3), keepdims=True) / area
            toned = mean + contrast * (toned - mean) + brightness
            toned = ops.clip(toned, 0.0, 1.0) * garment
            peak = ops.max(toned, axis=(1, 2, 3), keepdims=True)
            toned = toned / ops.maximum(peak, 1e-3)
            return images * (1.0 - apply) + toned * apply

        def compute_output_shape(self, input_shape):
            return input_shape

    return RandomPhotometric(name="random_photometric")
