"""benchmarks.training_bench's accuracy floors (a recipe that ends near chance fails the benchmark), and
benchmarks.monitor's test-set checks during training, kept off the training clock."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))

from conftest import report_optimiser_config

from benchmarks.monitor import TestMonitor
from benchmarks.training_bench import RECIPE_FLOORS, RecipeBelowFloorError, RecipeResult, check_floors
from fmnist_core.config import PRESETS
from fmnist_core.runs import (
    RunStatus,
    RunStore,
)
from fmnist_core.training import train

# 1,000 synthetic images -> 20 batches of 50 per epoch, validated on the test set (as the seed recipe).
SYNTHETIC_CONFIG = report_optimiser_config(epochs=2, batch_size=50, validation="test", seed=3)


def recipe(name: str, accuracy: float | None) -> RecipeResult:
    return RecipeResult(name=name, architecture="fast_cnn", config={}, train_images=2000, multiply_adds=1,
                        parameters=1, history={}, test_accuracy=accuracy, fit_wall_seconds=1.0)


def test_every_recipe_has_a_floor_far_above_chance():
    assert set(RECIPE_FLOORS) == set(PRESETS)
    assert all(0.4 <= floor < 0.9 for floor in RECIPE_FLOORS.values())


def test_recipes_at_or_above_their_floors_pass():
    check_floors([recipe(name, floor) for name, floor in RECIPE_FLOORS.items()])


def test_a_recipe_at_chance_fails_and_is_named():
    with pytest.raises(RecipeBelowFloorError, match=r"default ended at 10\.06%"):
        check_floors([recipe("seed", 0.8), recipe("default", 0.1006)])
    with pytest.raises(RecipeBelowFloorError, match="best"):
        check_floors([recipe("best", None)])


# ---------------------------------------------------------------- test accuracy while training
class _SlowPredictions:
    """Wraps predict_probabilities with a fixed delay, to show the checks are kept off the clock."""

    delay = 0.25

    def __init__(self, real) -> None:
        self.real = real
        self.calls = 0

    def __call__(self, *args, **kwargs):
        import time

        self.calls += 1
        time.sleep(self.delay)
        return self.real(*args, **kwargs)


def test_test_monitor_checks_every_n_images_off_the_clock(synthetic_dataset, tmp_store, monkeypatch):
    from benchmarks import monitor as monitor_module

    slow = _SlowPredictions(monitor_module.predict_probabilities)
    monkeypatch.setattr(monitor_module, "predict_probabilities", slow)
    # 20 steps of 50 images per epoch: a check every 250 images is due after steps 5, 10 and 15,
    # and the epoch end (validated on the test set here) gives the fourth.
    result = train(SYNTHETIC_CONFIG, dataset=synthetic_dataset, store=tmp_store,
                   callbacks=[TestMonitor(every_images=250)])
    history = result.history
    assert history["monitor_epochs"] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert slow.calls == 6  # the epoch-end checks reuse the validation accuracy on the test set
    assert history["test_accuracy"] == history["val_accuracy"]
    assert [history["monitor_test_accuracy"][i] for i in (3, 7)] == history["test_accuracy"]
    seconds = history["monitor_seconds"]
    assert all(later > earlier for earlier, later in zip(seconds, seconds[1:]))
    assert seconds[-1] == pytest.approx(sum(history["train_seconds"]))
    # The 6 x 0.25 s of checks are in the fit's wall time but not on the training clock.
    assert result.run.meta["train_seconds"] - sum(history["seconds"]) >= 6 * slow.delay * 0.95


def test_test_monitor_stops_mid_epoch_checks_once_the_target_is_reached(synthetic_dataset, tmp_store):
    result = train(SYNTHETIC_CONFIG, dataset=synthetic_dataset, store=tmp_store,
                   callbacks=[TestMonitor(every_images=250, until_accuracy=0.0)])
    assert result.history["monitor_epochs"] == [0.25, 1.0, 2.0]


def test_test_monitor_does_not_change_training(synthetic_dataset, tmp_path):
    """Mid-epoch checks swap the EMA weights in and out: the trained weights must come back exactly."""
    # lite_cnn: batch norm (recalibrated at each check) and dropout (which the recalibration must not draw for),
    # at a sixth of wide_cnn's multiply-adds (3.6M, 21.9M): with wide_cnn, 22 recalibrations took 21 s of its 59.
    config = SYNTHETIC_CONFIG.with_changes(architecture="lite_cnn", ema_momentum=0.9, optimizer="adamw",
                                           weight_decay=1e-4)
    histories = []
    for name, monitor in (("plain", None), ("monitored", TestMonitor(every_images=100))):
        store = RunStore(tmp_path / name, pretrained_dir=None)
        callbacks = [monitor] if monitor else []
        histories.append(train(config, dataset=synthetic_dataset, store=store, callbacks=callbacks).history)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-6, atol=0, err_msg=key)


def test_test_monitor_can_end_the_run_at_the_target(synthetic_dataset, tmp_store):
    """benchmarks.race stops each recipe at its first check at the target accuracy."""
    result = train(SYNTHETIC_CONFIG, dataset=synthetic_dataset, store=tmp_store,
                   callbacks=[TestMonitor(every_images=250, until_accuracy=0.0, stop_when_reached=True)])
    assert result.status == RunStatus.STOPPED
    assert result.history["monitor_epochs"] == [0.25]
    assert tmp_store.get(result.run.run_id).epochs_completed == 0


def test_test_monitor_checks_every_fraction_of_an_epoch_after_the_first_target(synthetic_dataset, tmp_store):
    """Issue #17: after 86%, quarter-epoch checks time 90% and 93%; each check records the images so far."""
    # 1,000 images, 20 steps of 50 per epoch: 0% is reached at the first fine check (step 5); then checks at
    # every half epoch (steps 10 and 20 of each epoch) until 101%, which is never reached.
    monitor = TestMonitor(every_images=250, until_accuracy=0.0, then_every_epochs=0.5, then_until_accuracy=1.01)
    history = train(SYNTHETIC_CONFIG, dataset=synthetic_dataset, store=tmp_store, callbacks=[monitor]).history
    assert history["monitor_epochs"] == [0.25, 0.5, 1.0, 1.5, 2.0]
    assert history["monitor_images"] == [250, 500, 1000, 1500, 2000]
    # Once the second target is reached, only the epoch ends are checked.
    monitor = TestMonitor(every_images=250, until_accuracy=0.0, then_every_epochs=0.5, then_until_accuracy=0.0)
    history = train(SYNTHETIC_CONFIG, dataset=synthetic_dataset, store=tmp_store, callbacks=[monitor]).history
    assert history["monitor_epochs"] == [0.25, 1.0, 2.0]


def test_compute_to_a_threshold_counts_the_images_up_to_the_first_check_reaching_it():
    history = {"train_seconds": [10.0, 10.0], "monitor_epochs": [0.5, 1.0, 1.5, 2.0],
               "monitor_images": [1000.0, 2000.0, 3000.0, 4000.0], "monitor_seconds": [5.0, 10.0, 15.0, 20.0],
               "monitor_test_accuracy": [0.85, 0.91, 0.89, 0.935]}
    result = RecipeResult(name="default", architecture="fast_cnn", config={}, train_images=2000,
                          multiply_adds=1_000_000, parameters=1, history=history, test_accuracy=0.935,
                          fit_wall_seconds=21.0)
    # 6 FLOP per multiply-add per training image (2 per multiply-add, x3 forward and backward)
    assert result.tflop_to(0.90) == pytest.approx(6 * 1e6 * 2000 / 1e12)
    assert result.reached(0.90).epoch == 1.0 and result.reached(0.90).seconds == 10.0
    assert result.tflop_to(0.93) == pytest.approx(6 * 1e6 * 4000 / 1e12)
    assert result.tflop_to(0.95) is None
    assert result.total_tflop == pytest.approx(6 * 1e6 * 4000 / 1e12)
