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
        {"erasing": 1.01},
        {"erasing": -0.1},
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


def _erased_masks(image: np.ndarray, config: AugmentationConfig, count: int, seed: int = 0) -> np.ndarray:
    """Boolean masks of the pixels each erasing-only copy changed."""
    out = augment_preview(image, config, count=count, seed=seed)
    return out != image


def test_erasing_always_replaces_one_rectangle_of_2_to_25_percent():
    flat = np.full((28, 28), 128, dtype=np.uint8)  # noise equal to 128 on every pixel of a patch is impossible
    masks = _erased_masks(flat, AugmentationConfig(erasing=1.0), count=64, seed=1)
    areas = []
    for mask in masks:
        rows, cols = np.nonzero(mask)
        assert rows.size, "erasing with probability 1 left an image untouched"
        box = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        # noise rounds to 128 on about 1 pixel in 255 by chance; otherwise the changed pixels fill one box
        assert (~box).sum() <= 3
        areas.append(box.size / mask.size)
    assert min(areas) >= 0.01 and max(areas) <= 0.30  # 2-25% of the area, up to pixel rounding
    assert max(areas) - min(areas) > 0.1  # sizes vary


def test_erasing_probability_is_the_share_of_images_erased_and_seeded():
    flat = np.full((28, 28), 128, dtype=np.uint8)
    config = AugmentationConfig(erasing=0.5)
    assert config.enabled and [type(layer).__name__ for layer in build_augmentation(config).layers] == [
        "RandomRectErasing"
    ]
    masks = _erased_masks(flat, config, count=400, seed=2)
    erased = int(masks.any(axis=(1, 2)).sum())
    assert 150 <= erased <= 250  # Binomial(400, 0.5): outside this is a 1e-5 event
    np.testing.assert_array_equal(masks, _erased_masks(flat, config, count=400, seed=2))
    assert not np.array_equal(masks, _erased_masks(flat, config, count=400, seed=3))
    assert AugmentationConfig.from_dict(config.to_dict()) == config
    assert AugmentationConfig.from_dict({"zoom": 0.1}).erasing == 0.0  # runs saved before erasing existed


def test_erasing_is_off_at_inference():
    layer = augmentation.random_erasing_layer(1.0, seed=0)
    batch = np.random.default_rng(0).random((4, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(layer(batch, training=False)), batch)
    assert not np.array_equal(np.asarray(layer(batch, training=True)), batch)


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
