"""fmnist_core.models: the registry as specifications, output shape, and the cost figures the model picker shows."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from fmnist_core.archspec import ArchitectureSpec, layer_table, spec_from_json
from fmnist_core.config import TrainConfig
from fmnist_core.errors import ConfigError, UnknownArchitectureError
from fmnist_core.models import ARCHITECTURES, EXPERIMENTS, build_model, describe, get_architecture, multiply_adds

# Hand-computed for the seed report's CNN (valid 3x3 convolutions, 2x2 pooling):
#   conv 32 on 28x28x1 -> 26x26x32:        26*26*32*9
#   pool -> 13x13, conv 64 -> 11x11x64:    11*11*64*9*32
#   pool -> 5x5x64 = 1600, dense 128:      1600*128
#   dense 10:                              128*10
SEED_CNN_MULTIPLY_ADDS = 26 * 26 * 32 * 9 + 11 * 11 * 64 * 9 * 32 + 1600 * 128 + 128 * 10
SEED_CNN_PARAMETERS = (32 * 9 + 32) + (64 * 9 * 32 + 64) + (1600 * 128 + 128) + (128 * 10 + 10)

# (parameters, multiply-adds) of the registry's hand-written Keras builders before the architectures
# became specifications (main at efaaf43, Keras' count_params and models.multiply_adds).
PRE_SPEC_COUNTS = {
    "seed_cnn": (225_034, 2_631_040),
    "fast_cnn": (242_506, 14_677_760),
    "wide_cnn": (279_722, 21_903_104),
    "large_cnn": (622_058, 53_514_624),
}
# lean_cnn (issue #17), by hand: stem conv 16 at 28x28 (bias); conv-BN 32 at 14x14, 96 at 7x7, 192 and 192 at
# 3x3 (no bias; batch norm keeps 4 numbers per channel); dense 10 after global average pooling.
LEAN_CNN_PARAMETERS = ((16 * 9 + 16) + (16 * 9 * 32 + 4 * 32) + (32 * 9 * 96 + 4 * 96) + (96 * 9 * 192 + 4 * 192)
                       + (192 * 9 * 192 + 4 * 192) + (192 * 10 + 10))
LEAN_CNN_MULTIPLY_ADDS = (28 * 28 * 9 * 16 + 14 * 14 * 9 * 16 * 32 + 7 * 7 * 9 * 32 * 96 + 3 * 3 * 9 * 96 * 192
                          + 3 * 3 * 9 * 192 * 192 + 192 * 10)
# lite_cnn (issue #17): the same stem and 14x14 stage, conv-BN 96 at 7x7, then the 7x7x96 map
# flattened into dense 256 (bias), dropout, dense 10.
LITE_CNN_PARAMETERS = ((16 * 9 + 16) + (16 * 9 * 32 + 4 * 32) + (32 * 9 * 96 + 4 * 96) + (7 * 7 * 96 * 256 + 256)
                       + (256 * 10 + 10))
LITE_CNN_MULTIPLY_ADDS = (28 * 28 * 9 * 16 + 14 * 14 * 9 * 16 * 32 + 7 * 7 * 9 * 32 * 96 + 7 * 7 * 96 * 256
                          + 256 * 10)
# slim_cnn (issue #17): lean_cnn's stem and stages up to 7x7, a third pool, conv-BN 192 (3x3) and a 1x1 conv-BN
# 192 at 3x3, dense 10 after global average pooling.
SLIM_CNN_PARAMETERS = ((16 * 9 + 16) + (16 * 9 * 32 + 4 * 32) + (32 * 9 * 96 + 4 * 96) + (96 * 9 * 192 + 4 * 192)
                       + (192 * 192 + 4 * 192) + (192 * 10 + 10))
SLIM_CNN_MULTIPLY_ADDS = (28 * 28 * 9 * 16 + 14 * 14 * 9 * 16 * 32 + 7 * 7 * 9 * 32 * 96 + 3 * 3 * 9 * 96 * 192
                          + 3 * 3 * 192 * 192 + 192 * 10)
COUNTS = {**PRE_SPEC_COUNTS, "lean_cnn": (LEAN_CNN_PARAMETERS, LEAN_CNN_MULTIPLY_ADDS),
          "lite_cnn": (LITE_CNN_PARAMETERS, LITE_CNN_MULTIPLY_ADDS),
          "slim_cnn": (SLIM_CNN_PARAMETERS, SLIM_CNN_MULTIPLY_ADDS)}


def test_registry_names():
    assert set(ARCHITECTURES) == {"seed_cnn", "fast_cnn", "lean_cnn", "slim_cnn", "lite_cnn", "wide_cnn",
                                  "large_cnn"}
    for name, arch in ARCHITECTURES.items():
        assert arch.name == name and arch.title and arch.description
        assert arch.spec.name == name and arch.spec.title == arch.title
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
def test_registry_round_trips_with_identical_counts(name):
    """registry -> specification -> JSON -> specification -> Keras model: the same counts everywhere."""
    arch = ARCHITECTURES[name]
    spec = spec_from_json(arch.spec.to_json())
    assert spec == arch.spec
    table = layer_table(spec)
    model = build_model(name)
    assert (table.parameters, table.multiply_adds) == COUNTS[name]
    assert (model.count_params(), multiply_adds(model)) == COUNTS[name]
    summary = describe(name)
    assert (summary.parameters, summary.multiply_adds) == COUNTS[name]
    # Every layer's inferred output shape is the shape Keras gives it.
    keras_shapes = [tuple(layer.output.shape[1:]) for layer in model.layers[1:-2]]
    assert keras_shapes == [row.output_shape for row in table.rows[1:-1]]


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
    # fast_cnn's convolutions at 28x28 and 14x14 alone exceed the dense layers' cost.
    assert fast.multiply_adds > 28 * 28 * 32 * 9
    with pytest.raises(UnknownArchitectureError):
        describe("nope")


def test_the_registry_and_describe_do_not_import_tensorflow():
    """Architecture metadata lives apart from the model builders (checked in a fresh interpreter)."""
    script = (
        "import sys, json\n"
        "from fmnist_core import models, config, archspec, archspec_store\n"
        "s = models.describe('large_cnn')\n"
        "print(json.dumps([s.parameters, 'tensorflow' in sys.modules, 'keras' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [PRE_SPEC_COUNTS["large_cnn"][0], False, False]


def test_guided_experiments_are_ordinary_changed_specs_of_the_seed_network():
    seed = ARCHITECTURES["seed_cnn"].spec
    assert set(EXPERIMENTS) == {"seed_no_dropout", "seed_no_pooling", "seed_batchnorm"}
    for name, experiment in EXPERIMENTS.items():
        assert isinstance(experiment.spec, ArchitectureSpec) and experiment.spec.name == name
        assert experiment.watch.endswith(".") and experiment.title
        assert layer_table(experiment.spec).ok
        assert spec_from_json(experiment.spec.to_json()) == experiment.spec
    kinds = lambda spec: [layer.kind for layer in spec.layers]  # noqa: E731
    assert "dropout" not in kinds(EXPERIMENTS["seed_no_dropout"].spec)
    assert [k for k in kinds(seed) if k != "dropout"] == kinds(EXPERIMENTS["seed_no_dropout"].spec)
    assert "max_pool" not in kinds(EXPERIMENTS["seed_no_pooling"].spec)
    assert layer_table(EXPERIMENTS["seed_no_pooling"].spec).multiply_adds > 3 * layer_table(seed).multiply_adds
    assert kinds(EXPERIMENTS["seed_batchnorm"].spec).count("batchnorm") == 2
