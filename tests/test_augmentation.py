"""fmnist_core.augmentation: validation, identity when off, seeded previews, and that training
augments with the very same layer stack the preview shows."""

from __future__ import annotations

import numpy as np
import pytest

import fmnist_core.augmentation as augmentation
from fmnist_core.augmentation import (
    NO_AUGMENTATION,
    SEED_REPORT_AUGMENTATION,
    AugmentationConfig,
    augment_preview,
    build_augmentation,
)
from fmnist_core.config import TrainConfig
from fmnist_core.errors import ConfigError


@pytest.fixture(scope="module")
def asymmetric_image() -> np.ndarray:
    """A uint8 28x28 image that differs from its mirror image (an 'L' shape)."""
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 5:9] = 255
    image[20:24, 5:20] = 180
    assert not np.array_equal(image, np.fliplr(image))
    return image


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rotation_deg": -1},
        {"rotation_deg": 180.5},
        {"width_shift": 0.51},
        {"height_shift": -0.1},
        {"zoom": 0.95},
        {"zoom": -0.01},
    ],
)
def test_out_of_range_settings_raise_config_error(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        AugmentationConfig(**kwargs)


def test_limits_are_inclusive_and_from_dict_ignores_unknown_keys():
    AugmentationConfig(rotation_deg=180, width_shift=0.5, height_shift=0.5, zoom=0.9)
    config = AugmentationConfig.from_dict({"zoom": 0.2, "brightness": 3})
    assert config == AugmentationConfig(zoom=0.2)
    assert AugmentationConfig.from_dict(None) == NO_AUGMENTATION
    assert AugmentationConfig.from_dict(SEED_REPORT_AUGMENTATION.to_dict()) == SEED_REPORT_AUGMENTATION


def test_identity_when_off(asymmetric_image):
    assert not NO_AUGMENTATION.enabled
    assert build_augmentation(NO_AUGMENTATION).layers == []
    out = augment_preview(asymmetric_image, NO_AUGMENTATION, count=4)
    assert out.shape == (4, 28, 28) and out.dtype == np.uint8
    for copy in out:
        np.testing.assert_array_equal(copy, asymmetric_image)


def test_preview_accepts_hwc_and_rejects_zero_count(asymmetric_image):
    out = augment_preview(asymmetric_image[..., None], NO_AUGMENTATION, count=1)
    np.testing.assert_array_equal(out[0], asymmetric_image)
    with pytest.raises(ConfigError):
        augment_preview(asymmetric_image, NO_AUGMENTATION, count=0)


def test_preview_is_reproducible_for_a_seed_and_differs_between_seeds(asymmetric_image):
    first = augment_preview(asymmetric_image, SEED_REPORT_AUGMENTATION, count=8, seed=3)
    again = augment_preview(asymmetric_image, SEED_REPORT_AUGMENTATION, count=8, seed=3)
    other = augment_preview(asymmetric_image, SEED_REPORT_AUGMENTATION, count=8, seed=4)
    assert first.shape == (8, 28, 28) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # The copies differ from one another and from the original: the transforms are active.
    assert len({copy.tobytes() for copy in first}) > 1
    assert any(not np.array_equal(copy, asymmetric_image) for copy in first)


def test_flip_only_gives_exact_mirror_images(asymmetric_image):
    out = augment_preview(asymmetric_image, AugmentationConfig(horizontal_flip=True), count=16, seed=0)
    mirrored = np.fliplr(asymmetric_image)
    flipped = [np.array_equal(copy, mirrored) for copy in out]
    kept = [np.array_equal(copy, asymmetric_image) for copy in out]
    assert all(f or k for f, k in zip(flipped, kept)), "a flip-only copy is neither the image nor its mirror"
    assert any(flipped) and any(kept)


def test_training_pipeline_uses_build_augmentation(monkeypatch):
    """make_dataset must get its random layers from augmentation.build_augmentation, so the
    preview shows exactly what training does."""
    from fmnist_core import training

    calls = []
    real_build = augmentation.build_augmentation

    def spy(config, seed=None):
        calls.append((config, seed))
        return real_build(config, seed=seed)

    monkeypatch.setattr(augmentation, "build_augmentation", spy)
    images = np.zeros((8, 28, 28), dtype=np.uint8)
    images[:, 4:24, 5:9] = 255
    labels = np.arange(8) % 10
    aug = AugmentationConfig(horizontal_flip=True)
    config = TrainConfig(architecture="seed_cnn", batch_size=8, augmentation=aug, seed=5)

    ds = training.make_dataset(images, labels, config, training=True)
    assert calls == [(aug, 5)]
    x, y = next(iter(ds))
    x = x.numpy()[..., 0]
    assert x.shape == (8, 28, 28) and y.shape == (8, 10)
    source = images[0].astype(np.float32) / 255.0
    for copy in x:  # every training image is the original or its mirror, as in the preview
        assert np.allclose(copy, source) or np.allclose(copy, np.fliplr(source))

    calls.clear()
    training.make_dataset(images, labels, config, training=False)  # evaluation never augments
    training.make_dataset(images, labels, config.with_changes(augmentation=NO_AUGMENTATION), training=True)
    assert calls == []
