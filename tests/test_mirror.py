"""fmnist_core.mirror: test-time mirror averaging is exact, free while training, flip-invariant, and
survives saving, safe-mode loading and resuming."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest
from conftest import report_optimiser_config

from fmnist_core.cli import build_parser, config_from_args
from fmnist_core.config import preset
from fmnist_core.mirror import MirrorAverage, mirror_averaged
from fmnist_core.models import build_model, multiply_adds
from fmnist_core.runs import RunStatus
from fmnist_core.training import BatchProgress, resume, train

SYNTHETIC_CONFIG = report_optimiser_config(epochs=2, batch_size=50, validation="test", seed=3)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((6, 28, 28, 1)).astype(np.float32)


def test_inference_averages_the_image_and_its_mirror(images):
    backbone = build_model("fast_cnn")
    model = mirror_averaged(backbone)
    expected = (np.asarray(backbone(images)) + np.asarray(backbone(images[:, :, ::-1]))) / 2
    np.testing.assert_allclose(np.asarray(model(images)), expected, atol=1e-6)
    np.testing.assert_allclose(np.asarray(model(images[:, :, ::-1])), np.asarray(model(images)), atol=1e-6)
    # A backbone that is not mirror-symmetric gives the mirror view a different opinion: the average differs.
    assert np.abs(expected - np.asarray(backbone(images))).max() > 1e-4


def test_training_sees_one_view_and_costs_the_same(images):
    # No dropout or batch norm: the backbone gives the same output in training and inference mode.
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    backbone = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model = mirror_averaged(backbone)
    one_view = np.asarray(backbone(images))
    np.testing.assert_allclose(np.asarray(model(images, training=True)), one_view, atol=1e-6)
    # Inference averages the image's and its mirror image's predictions (exactly), and the mirror view
    # really differs here, so that check is not vacuous.
    mirrored = np.asarray(backbone(np.flip(images, axis=2)))
    np.testing.assert_allclose(np.asarray(model(images, training=False)), (one_view + mirrored) / 2, atol=1e-6)
    assert np.abs(mirrored - one_view).max() > 1e-6
    assert multiply_adds(model) == multiply_adds(backbone) > 0
    assert model.count_params() == backbone.count_params()
    assert multiply_adds(mirror_averaged(build_model("fast_cnn"))) == multiply_adds(build_model("fast_cnn"))


def test_trained_stopped_resumed_saved_and_loaded(synthetic_dataset, tmp_store, images):
    config = SYNTHETIC_CONFIG.with_changes(mirror_averaging=True)
    stop = threading.Event()

    def stop_in_epoch_2(event):
        if isinstance(event, BatchProgress) and event.epoch == 2 and event.batch == 5:
            stop.set()

    stopped = train(config, dataset=synthetic_dataset, store=tmp_store, listener=stop_in_epoch_2,
                    stop_event=stop, report_every_s=0)
    assert stopped.status == RunStatus.STOPPED
    result = resume(stopped.run.run_id, dataset=synthetic_dataset, store=tmp_store, report_every_s=0)
    assert result.status == RunStatus.COMPLETED  # the checkpoint (with its wrapper) loaded and trained on

    model = tmp_store.load_model(result.run.run_id)  # checksum + Keras safe mode
    assert any(isinstance(layer, MirrorAverage) for layer in model.layers)
    np.testing.assert_allclose(np.asarray(model(images)), np.asarray(model(images[:, :, ::-1])), atol=1e-6)
    # The recorded test accuracy is the mirror-averaged model's.
    x_test = synthetic_dataset.x_test[..., None].astype(np.float32) / 255.0
    accuracy = float(np.mean(np.argmax(np.asarray(model(x_test)), axis=1) == synthetic_dataset.y_test))
    assert tmp_store.get(result.run.run_id).test_accuracy == pytest.approx(accuracy)
    assert accuracy > 0.5  # it learned the synthetic bands (chance is 0.1)


def test_best_preset_and_cli_flag():
    best = preset("best")
    assert best.mirror_averaging and best.augmentation.horizontal_flip and best.augmentation.erasing > 0
    assert not preset("default").mirror_averaging and not preset("seed").mirror_averaging
    args = build_parser().parse_args(["train", "--preset", "default", "--mirror-averaging", "--erasing", "0.3"])
    config = config_from_args(args)
    assert config.mirror_averaging and config.augmentation.erasing == 0.3
    args = build_parser().parse_args(["train", "--preset", "best", "--no-mirror-averaging"])
    assert not config_from_args(args).mirror_averaging
