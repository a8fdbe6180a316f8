"""fmnist_core.models: the registry, output shape, and the cost figures the model picker shows."""

from __future__ import annotations

import numpy as np
import pytest

from fmnist_core.config import TrainConfig
from fmnist_core.errors import ConfigError, UnknownArchitectureError
from fmnist_core.models import ARCHITECTURES, build_model, describe, get_architecture, multiply_adds

# Hand-computed for the seed report's CNN (valid 3x3 convolutions, 2x2 pooling):
#   conv 32 on 28x28x1 -> 26x26x32:        26*26*32*9
#   pool -> 13x13, conv 64 -> 11x11x64:    11*11*64*9*32
#   pool -> 5x5x64 = 1600, dense 128:      1600*128
#   dense 10:                              128*10
SEED_CNN_MULTIPLY_ADDS = 26 * 26 * 32 * 9 + 11 * 11 * 64 * 9 * 32 + 1600 * 128 + 128 * 10
SEED_CNN_PARAMETERS = (32 * 9 + 32) + (64 * 9 * 32 + 64) + (1600 * 128 + 128) + (128 * 10 + 10)


def test_registry_names():
    assert set(ARCHITECTURES) == {"seed_cnn", "fast_cnn", "wide_cnn", "large_cnn"}
    for name, arch in ARCHITECTURES.items():
        assert arch.name == name and arch.title and arch.description
        assert get_architecture(name) is arch


def test_unknown_architecture_is_a_typed_error_listing_choices():
    with pytest.raises(UnknownArchitectureError) as info:
        get_architecture("resnet9000")
    assert isinstance(info.value, ConfigError)
    assert "resnet9000" in str(info.value) and "seed_cnn" in str(info.value) and "fast_cnn" in str(info.value)
    with pytest.raises(UnknownArchitectureError):
        build_model("resnet9000")
    with pytest.raises(UnknownArchitectureError):
        TrainConfig(architecture="resnet9000")


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_output_is_a_probability_vector_per_image(name):
    model = build_model(name)
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    out = np.asarray(model(x, training=False))
    assert out.shape == (3, 10)
    assert (out >= 0).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_seed_cnn_cost_matches_hand_computation():
    model = build_model("seed_cnn")
    assert multiply_adds(model) == SEED_CNN_MULTIPLY_ADDS == 194_688 + 2_230_272 + 204_800 + 1_280
    assert model.count_params() == SEED_CNN_PARAMETERS


def test_describe():
    summary = describe("seed_cnn")
    assert summary.name == "seed_cnn" and summary.title == ARCHITECTURES["seed_cnn"].title
    assert summary.parameters == SEED_CNN_PARAMETERS
    assert summary.multiply_adds == SEED_CNN_MULTIPLY_ADDS
    fast = describe("fast_cnn")
    assert fast.parameters > 0 and fast.multiply_adds > 0
    # fast_cnn's convolutions at 28x28 and 14x14 alone exceed the dense layers' cost.
    assert fast.multiply_adds > 28 * 28 * 32 * 9
    with pytest.raises(UnknownArchitectureError):
        describe("nope")
