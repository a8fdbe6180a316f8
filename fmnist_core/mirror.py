"""Test-time mirror averaging: predict on an image and its mirror image, and average the two.

Garments are (nearly) left-right symmetric and the `best` recipe trains with horizontal flips, so the
two views give two slightly different opinions of the same garment; their mean is more often right.
Training is unchanged (one view, no extra cost); inference and validation cost twice the forward pass.
The wrapper is a registered layer, so a saved model loads in Keras' safe mode.
"""

from __future__ import annotations

import keras
from keras import ops

from .constants import INPUT_SHAPE


@keras.saving.register_keras_serializable(package="fmnist_core")
class MirrorAverage(keras.layers.Layer):
    """Calls `backbone` on the batch while training; on the batch and its mirror image otherwise."""

    def __init__(self, backbone: keras.Model, **kwargs) -> None:
        super().__init__(**kwargs)
        self.backbone = backbone

    @property
    def layers(self) -> list:
        """The backbone, so code that walks a model's layers (multiply_adds) finds its convolutions."""
        return [self.backbone]

    def build(self, input_shape) -> None:
        if not self.backbone.built:
            self.backbone.build(input_shape)
        self.built = True

    def call(self, images, training=None):
        if training:
            return self.backbone(images, training=True)
        both = ops.concatenate([images, ops.flip(images, axis=2)], axis=0)  # one batched forward pass
        plain, mirrored = ops.split(self.backbone(both, training=False), 2, axis=0)
        return (plain + mirrored) / 2.0

    def compute_output_shape(self, input_shape):
        return self.backbone.compute_output_shape(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "backbone": keras.saving.serialize_keras_object(self.backbone)}

    @classmethod
    def from_config(cls, config: dict) -> MirrorAverage:
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def mirror_averaged(backbone: keras.Model) -> keras.Model:
    """A model with the backbone's name and output whose inference averages the two mirror views."""
    inputs = keras.Input(shape=INPUT_SHAPE)
    outputs = MirrorAverage(backbone, name="mirror_average")(inputs)
    return keras.Model(inputs, outputs, name=backbone.name)
