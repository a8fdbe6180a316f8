"""fmnist_core.config and fmnist_core.training: settings, a real-data accuracy floor, progress
events, stopping, determinism, the one-job-at-a-time lock, and resuming."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import replace

import numpy as np
import pytest
from conftest import report_optimiser_config

from fmnist_core.augmentation import SEED_REPORT_AUGMENTATION, AugmentationConfig
from fmnist_core.config import PRESETS, TrainConfig, preset
from fmnist_core.errors import ConfigError, RunError, TrainingBusyError
from fmnist_core.runs import HISTORY_FILE, METRICS_FILE, RUN_FILE, RunStatus, RunStore
from fmnist_core.training import (
    HISTORY_KEYS,
    BatchProgress,
    EpochEnd,
    TrainingFinished,
    TrainingStarted,
    resume,
    train,
    training_lock,
)

# A quick recipe for the synthetic dataset (1,000 images -> 20 batches of 50 per epoch).
SYNTHETIC_CONFIG = report_optimiser_config(epochs=2, batch_size=50, validation="test", seed=3)
SYNTHETIC_STEPS = 20

# The real-data accuracy check: the seed report's optimiser (Adam 1e-3) with batch 32, no
# augmentation, 1 epoch on 3,000 stratified training images, validated on the 5,000 holdout.
# Measured on 2 CPU cores (TF 2.21 / Keras 3.15): test accuracy 0.734 with seed 42, and
# 0.705 / 0.716 / 0.727 with seeds 1 / 2 / 3. Chance is 0.10; a pipeline that scrambles the
# pairing of images and labels, or feeds blank images, stays near it. The floor leaves ~0.05 margin.
ACCURACY_CONFIG = report_optimiser_config(epochs=1, batch_size=32, train_limit=3000, validation="holdout", seed=42)
ACCURACY_FLOOR = 0.66


class Recorder:
    """A listener that keeps every event and can run a hook on each."""

    def __init__(self, hook=None) -> None:
        self.events: list = []
        self.hook = hook

    def __call__(self, event) -> None:
        self.events.append(event)
        if self.hook is not None:
            self.hook(event)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]


# ------------------------------------------------------------------ TrainConfig
@pytest.mark.parametrize(
    "changes",
    [
        {"epochs": 0},
        {"epochs": 501},
        {"batch_size": 0},
        {"batch_size": 5000},
        {"learning_rate": 0.0},
        {"learning_rate": 1.5},
        {"optimizer": "rmsprop"},
        {"schedule": "step"},
        {"validation": "train"},
        {"label_smoothing": 1.0},
        {"label_smoothing": -0.1},
        {"warmup_epochs": -1.0},
        {"weight_decay": -1e-4},
        {"train_limit": 99},
        {"architecture": "nope"},
    ],
)
def test_train_config_rejects_out_of_range(changes):
    with pytest.raises(ConfigError):
        TrainConfig(**changes)


def test_train_config_round_trips_through_json():
    config = TrainConfig(
        architecture="seed_cnn",
        epochs=3,
        batch_size=64,
        learning_rate=2e-3,
        optimizer="sgd",
        schedule="constant",
        label_smoothing=0.1,
        augmentation=AugmentationConfig(rotation_deg=15, zoom=0.2, horizontal_flip=True),
        seed=9,
        validation="test",
        train_limit=1000,
    )
    as_dict = config.to_dict()
    assert as_dict["augmentation"] == config.augmentation.to_dict()
    restored = TrainConfig.from_dict(json.loads(json.dumps(as_dict)))
    assert restored == config
    # Older/newer run.json files may carry keys this version does not know.
    assert TrainConfig.from_dict({**as_dict, "future_option": 1}) == config
    assert TrainConfig.from_dict({}) == TrainConfig()


def test_presets():
    assert set(PRESETS) == {"seed", "default", "best"}
    seed = preset("seed")
    assert (seed.architecture, seed.epochs, seed.batch_size, seed.optimizer, seed.learning_rate) == (
        "seed_cnn",
        50,
        64,
        "adam",
        1e-3,
    )
    assert seed.schedule == "constant" and seed.validation == "test"
    # Plain categorical cross-entropy on float32 weights, as the report's Keras model had.
    assert (seed.label_smoothing, seed.ema_momentum, seed.weight_decay, seed.mixed_precision) == (0, 0, 0, False)
    assert seed.augmentation == SEED_REPORT_AUGMENTATION
    # The default recipe is TrainConfig's defaults plus photo renders of a fifth of the training images
    # (issue #14 item 4); the report's recipe stays as the report trained it.
    assert preset("default") == TrainConfig(photo_renders=0.2) and seed.photo_renders == 0.0
    assert preset("best").augmentation.enabled
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("fastest")


# ------------------------------------------------------------------ real data: accuracy + events
@pytest.mark.slow
def test_one_epoch_on_3000_real_images_learns_and_reports_progress(real_dataset, tmp_store):
    recorder = Recorder()
    result = train(ACCURACY_CONFIG, dataset=real_dataset, store=tmp_store, listener=recorder, report_every_s=0)

    assert result.status == RunStatus.COMPLETED
    assert result.test_accuracy >= ACCURACY_FLOOR, f"1-epoch test accuracy {result.test_accuracy:.4f}"
    assert result.history["val_accuracy"][0] >= ACCURACY_FLOOR

    steps = math.ceil(3000 / ACCURACY_CONFIG.batch_size)
    events = recorder.events
    assert events[0] == TrainingStarted(result.run.run_id, 1, steps, 0)
    batches = recorder.of(BatchProgress)
    assert [b.batch for b in batches] == list(range(1, steps + 1))  # report_every_s=0: every batch
    assert all(b.epoch == 1 and b.steps_per_epoch == steps for b in batches)
    assert all(math.isfinite(b.loss) and 0 <= b.accuracy <= 1 for b in batches)
    assert all(math.isfinite(b.running_loss) and 0 <= b.running_accuracy <= 1 for b in batches)
    # The first batches (tracing included) give no estimate; after that it is never 0 while the
    # validation pass and the final evaluation remain, even at the last batch.
    assert batches[0].eta_seconds is None
    assert all(b.eta_seconds is None or b.eta_seconds > 0 for b in batches)
    assert batches[-1].eta_seconds is not None and batches[-1].eta_seconds > 0
    (epoch_end,) = recorder.of(EpochEnd)
    assert epoch_end.epoch == 1
    assert set(epoch_end.metrics) >= {"loss", "accuracy", "val_loss", "val_accuracy", "seconds", "cpu_seconds"}
    assert epoch_end.metrics["seconds"] > 0 and epoch_end.metrics["cpu_seconds"] > 0
    assert epoch_end.history == result.history
    assert events.index(epoch_end) > events.index(batches[-1])
    assert events[-1] == TrainingFinished(result.run.run_id, RunStatus.COMPLETED, result.test_accuracy)

    # What was saved agrees with what was reported.
    run = tmp_store.get(result.run.run_id)
    assert run.status == RunStatus.COMPLETED and run.epochs_completed == 1 and run.has_model
    assert run.config == ACCURACY_CONFIG.to_dict()
    assert run.meta["data_source"]["official"] is False
    assert set(run.meta["versions"]) >= {"python", "tensorflow", "keras", "numpy", "tensorflow_cpu_kernels"}
    history = json.loads((run.path / HISTORY_FILE).read_text())
    assert set(history) == set(HISTORY_KEYS) and all(len(v) == 1 for v in history.values())
    metrics = json.loads((run.path / METRICS_FILE).read_text())
    assert metrics["count"] == 10_000 and metrics["accuracy"] == pytest.approx(result.test_accuracy)
    assert np.asarray(metrics["confusion_matrix"]).sum() == 10_000


# ------------------------------------------------------------------ stop, resume
def test_stop_between_batches_then_resume_to_completion(synthetic_dataset, tmp_store):
    stop = threading.Event()

    def stop_in_epoch_2(event):
        if isinstance(event, BatchProgress) and event.epoch == 2 and event.batch == 5:
            stop.set()  # as the app's Stop button does, from another thread

    recorder = Recorder(stop_in_epoch_2)
    result = train(
        SYNTHETIC_CONFIG, dataset=synthetic_dataset, store=tmp_store, listener=recorder, stop_event=stop,
        report_every_s=0,
    )
    run_id = result.run.run_id
    assert result.status == RunStatus.STOPPED
    last = recorder.of(BatchProgress)[-1]
    assert last.epoch == 2 and last.batch < SYNTHETIC_STEPS  # it did not finish the epoch
    assert len(recorder.of(EpochEnd)) == 1  # the partial epoch is not reported as completed
    assert recorder.events[-1].status == RunStatus.STOPPED

    run = tmp_store.get(run_id)
    on_disk = json.loads((run.path / RUN_FILE).read_text())
    assert on_disk["status"] == "stopped" and on_disk["epochs_completed"] == 1
    assert all(len(v) == 1 for v in run.history().values())
    first_epoch = {k: v[0] for k, v in run.history().items()}
    model = tmp_store.load_model(run_id)  # the stopped run's model is saved and loads
    assert model.output_shape == (None, 10)
    assert run.resumable
    checkpoint = tmp_store.load_model(run_id, allow_checkpoint=True, compile=True)
    assert int(checkpoint.optimizer.iterations) == SYNTHETIC_STEPS  # optimizer state comes back

    recorder = Recorder()
    resumed = resume(run_id, dataset=synthetic_dataset, store=tmp_store, listener=recorder, report_every_s=0)
    assert resumed.status == RunStatus.COMPLETED
    assert recorder.events[0].initial_epoch == 1
    assert {b.epoch for b in recorder.of(BatchProgress)} == {2}
    assert [e.epoch for e in recorder.of(EpochEnd)] == [2]
    assert all(len(v) == 2 for v in recorder.of(EpochEnd)[0].history.values())
    run = tmp_store.get(run_id)
    assert run.status == RunStatus.COMPLETED and run.epochs_completed == SYNTHETIC_CONFIG.epochs
    history = run.history()
    assert all(len(v) == SYNTHETIC_CONFIG.epochs for v in history.values())
    assert {k: v[0] for k, v in history.items()} == first_epoch  # epoch 1 kept as it was
    assert not run.resumable
    tmp_store.load_model(run_id)
    with pytest.raises(RunError, match="resume"):
        resume(run_id, dataset=synthetic_dataset, store=tmp_store)


def test_stop_before_the_first_batch(synthetic_dataset, tmp_store):
    stop = threading.Event()
    stop.set()
    result = train(SYNTHETIC_CONFIG, dataset=synthetic_dataset, store=tmp_store, stop_event=stop)
    run = tmp_store.get(result.run.run_id)
    assert result.status == RunStatus.STOPPED and run.status == RunStatus.STOPPED
    assert run.epochs_completed == 0 and run.history() == {}
    assert not run.resumable  # nothing to resume from
    with pytest.raises(RunError):
        resume(run.run_id, dataset=synthetic_dataset, store=tmp_store)


# ------------------------------------------------------------------ determinism
def test_same_seed_config_and_data_give_the_same_history(synthetic_dataset, tmp_path):
    """Same seed + config + data -> the same history, augmentation included.

    Measured bit-identical on 2 CPU cores. The comparison still allows 1e-6 relative, in case
    oneDNN sums in a thread-count-dependent order elsewhere; the bug this guards against (random
    augmentation draws taken in thread order by a parallel tf.data map) moved the loss by ~0.5%.
    """
    config = SYNTHETIC_CONFIG.with_changes(epochs=1, augmentation=AugmentationConfig(horizontal_flip=True))
    histories, test_losses = [], []
    for name in ("a", "b"):
        store = RunStore(tmp_path / name, pretrained_dir=None)
        result = train(config, dataset=synthetic_dataset, store=store)
        histories.append(result.history)
        test_losses.append(result.run.meta["test"]["loss"])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-6, atol=0, err_msg=key)
    assert test_losses[0] == pytest.approx(test_losses[1], rel=1e-6)


# ------------------------------------------------------------------ one job at a time
def test_second_concurrent_training_is_refused(synthetic_dataset, tmp_store):
    inside, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def block_in_first_batch(event):
        if isinstance(event, BatchProgress) and not inside.is_set():
            inside.set()
            release.wait(60)

    def background():
        try:
            outcome["result"] = train(
                SYNTHETIC_CONFIG.with_changes(epochs=1), dataset=synthetic_dataset, store=tmp_store,
                listener=block_in_first_batch, report_every_s=0,
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    thread = threading.Thread(target=background)
    thread.start()
    try:
        assert inside.wait(120), outcome
        with pytest.raises(TrainingBusyError):
            train(SYNTHETIC_CONFIG, dataset=synthetic_dataset, store=tmp_store)
        # The refused attempt created no run folder.
        assert len(tmp_store.list_runs()) == 1
        with pytest.raises(TrainingBusyError), training_lock(tmp_store.root):
            pass
    finally:
        release.set()
        thread.join(120)
    assert "error" not in outcome, outcome
    assert outcome["result"].status == RunStatus.COMPLETED
    with training_lock(tmp_store.root):  # released once the job ended
        pass


def test_failure_is_recorded_and_releases_the_lock(synthetic_dataset, tmp_store):
    recorder = Recorder()
    # holdout validation needs more than 5,000 training images; the synthetic set has 1,000.
    with pytest.raises(ValueError):
        train(SYNTHETIC_CONFIG.with_changes(validation="holdout"), dataset=synthetic_dataset, store=tmp_store,
              listener=recorder)
    (run,) = tmp_store.list_runs()
    assert run.status == RunStatus.FAILED and "ValueError" in run.meta["error"]
    assert isinstance(recorder.events[-1], TrainingFinished) and recorder.events[-1].status == RunStatus.FAILED
    assert recorder.events[-1].error
    with training_lock(tmp_store.root):
        pass


# ------------------------------------------------------------------ weight average
def _averaging_model(momentum=0.99):
    import keras

    from fmnist_core.weight_averaging import AveragingSGD

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    model.compile(optimizer=AveragingSGD(0.05, average_momentum=momentum), loss="mse")
    return model


def _kernel_recorder(model):
    """A callback and the list it fills: the kernel before the first batch and after every batch."""
    import keras

    kernels = [model.layers[0].kernel.numpy().copy()]

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            kernels.append(self.model.layers[0].kernel.numpy().copy())

    return Record(), kernels


def test_weight_average_grows_its_momentum_with_the_step_and_swaps_cleanly():
    """The optimizer keeps the average inside each training step, following min(momentum, (1 + t) / (10 + t)):
    early averages track the trained weights instead of keeping most of the random initial ones (Keras' plain
    EMA uses 0.99 from step 2). The callback puts it into the model for evaluation and takes it out."""
    from fmnist_core.training.callbacks import WeightAverage
    from fmnist_core.weight_averaging import ema_momentum_at

    rng = np.random.default_rng(0)
    x, y = rng.random((240, 3), np.float32), rng.random((240, 1), np.float32) * 4
    model = _averaging_model()
    recorder, kernels = _kernel_recorder(model)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    average = kernels[0].astype(np.float32)
    for step, kernel in enumerate(kernels[1:]):
        momentum = np.float32(ema_momentum_at(0.99, step))
        average = momentum * average + (np.float32(1) - momentum) * kernel
    value = kernels[-1]
    assert len(kernels) == 31
    assert ema_momentum_at(0.99, 0) == pytest.approx(0.1) and ema_momentum_at(0.99, 10_000) == 0.99
    (kept,) = model.optimizer.average_pairs.averages
    np.testing.assert_allclose(kept.numpy(), average, rtol=1e-6)
    # Keras' own rule would still hold 0.99 ** 29 = 75% of the initial ones here.
    assert np.abs(average - value).max() < 0.25 * np.abs(value - kernels[0]).max()

    callback = WeightAverage(np.zeros((0, 28, 28), np.uint8))
    callback.set_model(model)
    callback.use_averaged()
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), average, rtol=1e-6)
    callback.use_raw()
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), value, rtol=1e-6)
    with callback.evaluated():
        np.testing.assert_allclose(model.layers[0].kernel.numpy(), average, rtol=1e-6)
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), value, rtol=1e-6)


def test_the_weight_average_is_saved_with_the_optimizer_and_a_plain_load_needs_none_of_it(tmp_path):
    """A checkpoint holds the average (a resumed run continues it); compile=False, as the take-away snippets
    load a model, reads a plain Keras model; the momentum 0 optimizer keeps no average at all."""
    import keras

    model = _averaging_model()
    rng = np.random.default_rng(1)
    model.fit(rng.random((64, 3), np.float32), rng.random((64, 1), np.float32), batch_size=8, verbose=0)
    (average,) = model.optimizer.average_pairs.averages
    assert not np.allclose(average.numpy(), model.layers[0].kernel.numpy())
    model.save(tmp_path / "checkpoint.keras")
    loaded = keras.saving.load_model(tmp_path / "checkpoint.keras", compile=True, safe_mode=True)
    assert type(loaded.optimizer).__name__ == "AveragingSGD" and loaded.optimizer.average_momentum == 0.99
    np.testing.assert_array_equal(loaded.optimizer.average_pairs.averages[0].numpy(), average.numpy())
    assert loaded.optimizer.average_pairs.variables[0] is loaded.layers[0].kernel
    plain = keras.saving.load_model(tmp_path / "checkpoint.keras", compile=False, safe_mode=True)
    np.testing.assert_array_equal(plain.layers[0].kernel.numpy(), model.layers[0].kernel.numpy())

    unaveraged = _averaging_model(momentum=0.0)
    unaveraged.fit(rng.random((16, 3), np.float32), rng.random((16, 1), np.float32), batch_size=8, verbose=0)
    assert unaveraged.optimizer.average_pairs.averages == ()
    assert all("average" not in v.path for v in unaveraged.optimizer.variables)
    with pytest.raises(ValueError, match="average_momentum"):
        _averaging_model(momentum=1.0)


def test_the_training_code_touches_no_private_keras_attribute():
    import pathlib

    import fmnist_core.training as training

    package = pathlib.Path(training.__file__).parent
    for path in [*package.glob("*.py"), package.parent / "weight_averaging.py"]:
        text = path.read_text()
        for private in ("_trainable_variables", "_model_variables_moving_average", "_update_model_variables",
                        "_flatten_layers", "types.MethodType"):
            assert private not in text, f"{path.name} uses {private}"


def test_batch_norm_recalibration_gives_the_statistics_of_the_images():
    import keras

    from fmnist_core.training.batchnorm import batch_norm_layers, recalibrate_batch_norm

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    outputs = keras.layers.Dropout(0.5)(keras.layers.Dense(10)(x))
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(0).integers(0, 256, (600, 28, 28), dtype=np.uint8)
    (layer,) = batch_norm_layers(model)
    assert recalibrate_batch_norm(model, images, batch_size=200)
    pixels = images.reshape(600, -1) / 255.0
    np.testing.assert_allclose(layer.moving_mean.numpy(), pixels.mean(axis=0), rtol=1e-4, atol=1e-5)
    batch_vars = np.mean([pixels[i : i + 200].var(axis=0) for i in range(0, 600, 200)], axis=0)
    np.testing.assert_allclose(layer.moving_variance.numpy(), batch_vars, rtol=1e-3, atol=1e-5)
    assert layer.momentum == 0.9 and model.layers[-1].rate == 0.5  # restored
    assert not recalibrate_batch_norm(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]), images)


# ------------------------------------------------------------------ learning-rate schedule
@pytest.mark.parametrize("warmup_steps", [0, 1, 21])
def test_warmup_cosine_matches_keras_cosine_decay(warmup_steps):
    import keras

    from fmnist_core.schedules import WarmupCosine

    total = 300
    initial = 3e-4 if warmup_steps else 3e-3
    ours = WarmupCosine(initial, 3e-3, warmup_steps, total - warmup_steps, alpha=0.01)
    if warmup_steps:
        theirs = keras.optimizers.schedules.CosineDecay(initial, total - warmup_steps, alpha=0.01,
                                                        warmup_target=3e-3, warmup_steps=warmup_steps)
    else:
        theirs = keras.optimizers.schedules.CosineDecay(3e-3, total, alpha=0.01)
    steps = [0, 1, 5, 20, 21, 22, 100, 299, 300, 400]
    np.testing.assert_allclose([float(ours(s)) for s in steps], [float(theirs(s)) for s in steps], rtol=1e-5)


def test_a_compiled_model_with_the_schedule_saves_and_loads_in_safe_mode(tmp_path):
    """Resume loads the checkpoint compiled: its optimizer names WarmupCosine, which must load again."""
    import keras

    from fmnist_core.runs import atomic_save_model, load_verified_model
    from fmnist_core.schedules import WarmupCosine

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    schedule = WarmupCosine(1e-4, 1e-3, 5, 95, alpha=0.01)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4), loss="mse")
    model.fit(np.ones((8, 4), np.float32), np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    checksum = atomic_save_model(model, tmp_path / "checkpoint.keras")
    loaded = load_verified_model(tmp_path / "checkpoint.keras", checksum, label="test", compile=True)
    restored = loaded.optimizer._learning_rate
    assert isinstance(restored, WarmupCosine) and restored.get_config() == schedule.get_config()
    assert int(loaded.optimizer.iterations) == 1


def test_the_compiled_model_has_its_optimizer_built_so_the_first_step_creates_no_variable():
    """Optimizer variables created inside the first traced step cost a guarded initialiser each and a second
    trace (build_compiled_model's docstring); built beforehand, a step only updates them, and the average
    starts from the initial weights as before."""
    import keras

    from fmnist_core.config import PRESETS
    from fmnist_core.training.optimizer import build_compiled_model

    model = build_compiled_model(PRESETS["default"].with_changes(architecture="lite_cnn"), steps_per_epoch=4)
    assert model.optimizer.built
    before = [variable.path for variable in model.optimizer.variables]
    weights = model.trainable_variables
    assert len(model.optimizer.average_pairs.averages) == len(weights) > 0
    for average, weight in zip(model.optimizer.average_pairs.averages, weights):
        np.testing.assert_array_equal(average.numpy(), weight.numpy())
    rng = np.random.default_rng(0)
    x = rng.random((8, 28, 28, 1), np.float32)
    model.train_on_batch(x, keras.utils.to_categorical(rng.integers(0, 10, 8), 10))
    assert [variable.path for variable in model.optimizer.variables] == before
    assert int(model.optimizer.iterations) == 1


# ------------------------------------------------------------------ live progress (issue 11 item 6)
def test_running_mean_recovers_batch_values_and_smooths_them():
    from fmnist_core.training.callbacks import RunningMean

    batch_values = [2.0, 1.0, 1.5, 0.5]
    means = np.cumsum(batch_values) / np.arange(1, 5)  # what Keras logs: the epoch's mean so far
    running = RunningMean(beta=0.5)
    smoothed = [running.add(float(m), i) for i, m in enumerate(means)]
    assert smoothed[0] == pytest.approx(2.0)  # bias-corrected: the first batch counts fully
    expected, value = [], 0.0
    for n, v in enumerate(batch_values, start=1):
        value = 0.5 * value + 0.5 * v
        expected.append(value / (1 - 0.5**n))
    np.testing.assert_allclose(smoothed, expected)
    running.start_epoch()  # a new epoch: Keras' mean restarts, the smoothing goes on
    assert running.add(3.0, 0) == pytest.approx((0.5 * value + 0.5 * 3.0) / (1 - 0.5**5))


def test_time_left_waits_for_a_rate_then_counts_validation_and_the_final_evaluation():
    from fmnist_core.training.callbacks import TimeLeft

    left = TimeLeft(batch_size=100, validation_images=3000, test_images=6000)
    for t in (0.0, 0.5, 1.0, 1.5):  # the first batch (tracing) ends at 0; then 0.5 s per batch
        left.batch_done(10.0 + t)
        if t < 1.5:
            assert left.seconds(10.0 + t, batches_left=10, validations_left=1) is None  # "estimating"
    # 0.5 s per batch: forward ~ 0.5 / 100 / 3 s per image -> validation ~5.5 s, final ~11 s.
    estimate = left.seconds(11.5, batches_left=0, validations_left=1)
    assert estimate == pytest.approx(0.5 / 300 * 3000 + 0.5 + 0.5 / 300 * 6000 + 1.0)
    left.epoch_overhead = 4.0  # once measured, the real cost of an epoch's validation and checkpoint
    assert left.seconds(11.5, batches_left=4, validations_left=2) == pytest.approx(2.0 + 8.0 + 0.5 / 300 * 6000 + 1.0)


def test_time_left_is_given_on_a_fast_machine_after_enough_batches_within_the_first_second():
    from fmnist_core.training.callbacks import TimeLeft

    left = TimeLeft(batch_size=32, validation_images=300, test_images=600)
    left.batch_done(0.0)  # the first batch (tracing)
    for n in range(1, TimeLeft.ENOUGH_BATCHES + 1):  # 10 ms per batch: 20 batches in 0.2 s
        left.batch_done(n * 0.01)
        estimate = left.seconds(n * 0.01, batches_left=5, validations_left=1)
        assert (estimate is None) == (n < TimeLeft.ENOUGH_BATCHES)
    assert estimate is not None and estimate > 5 * 0.01


def test_terminal_progress_says_estimating_before_the_first_estimate():
    import io

    from fmnist_core.cli import TerminalProgress

    stream = io.StringIO()
    progress = TerminalProgress(stream)
    for eta in (None, 12.0):
        progress(BatchProgress(epoch=1, batch=1, steps_per_epoch=4, loss=1.0, accuracy=0.5, elapsed_seconds=0.1,
                               eta_seconds=eta))
    assert "estimating time left" in stream.getvalue() and "12s left" in stream.getvalue()


def test_terminal_progress_counts_photo_renders():
    import io

    from fmnist_core.cli import TerminalProgress
    from fmnist_core.training import RenderProgress

    stream = io.StringIO()
    progress = TerminalProgress(stream)
    progress(RenderProgress("run", 0, 2000, 0.0))
    progress(RenderProgress("run", 1000, 2000, 50.0))
    progress(RenderProgress("run", 2000, 2000, 100.0))
    text = stream.getvalue()
    assert "photo renders 1,000/2,000" in text and "50s left" in text
    assert text.split("\r")[-1].startswith("photo renders 2,000/2,000 ready (100s)") and text.endswith("\n")


# ------------------------------------------------------------------ every preset learns (issue 11 item 1)
# Each preset trained 1 epoch on 2,000 stratified real images (16 steps at batch 128, 32 at the seed's 64).
# Before batch norm was recalibrated for the saved weights, `default` and `best` ended at chance (10.0%)
# with 73% training accuracy. Measured after the fix on 2 cores of an Intel Xeon (AVX-512, AMX; under
# load): default 0.701, best 0.651, seed 0.556 (no batch norm; the report's Adam at 1e-3 on 32 augmented
# batches is simply slow). Scored on the first 2,000 test images instead (TEST_IMAGES, since 2026-12-07), on
# 2 cores of an AMD EPYC (AVX2): default 0.762, best 0.607, seed 0.559.
# The floors are far above chance (0.10) with a few points of margin.
PRESET_FLOORS = {"seed": 0.50, "default": 0.60, "best": 0.58}
TEST_IMAGES = 2000
# A run's recorded scores and a fresh evaluation of its saved model may differ by at most this.
AGREEMENT = 0.003


def test_preset_floors_cover_every_preset():
    assert set(PRESET_FLOORS) == set(PRESETS)


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=[pytest.mark.slow] if name == "best" else []) for name in sorted(PRESETS)]
)
def test_every_preset_learns_in_one_epoch_and_its_scores_match_the_saved_model(name, real_dataset, tmp_store):
    from fmnist_core.data import stratified_split
    from fmnist_core.evaluation import evaluate_model

    # The first 2,000 test images: every score below is taken on them (the run's own and the fresh ones); on all
    # 10,000 the `best` case took 92 s in a full run on 2 cores, on these 39 s alone.
    real_dataset = replace(real_dataset, x_test=real_dataset.x_test[:TEST_IMAGES],
                           y_test=real_dataset.y_test[:TEST_IMAGES])
    config = preset(name).with_changes(epochs=1, train_limit=2000)
    result = train(config, dataset=real_dataset, store=tmp_store)
    assert result.status == RunStatus.COMPLETED
    assert result.test_accuracy >= PRESET_FLOORS[name], f"{name}: test accuracy {result.test_accuracy:.4f}"

    model = tmp_store.load_model(result.run.run_id, float32=True)  # the evaluation a user can reproduce
    fresh_test = evaluate_model(model, real_dataset.x_test, real_dataset.y_test).accuracy
    assert abs(fresh_test - result.test_accuracy) <= AGREEMENT
    if config.validation == "test":
        x_val, y_val = real_dataset.x_test, real_dataset.y_test
    else:
        split = stratified_split(real_dataset.x_train, real_dataset.y_train)
        x_val, y_val = split.x_val, split.y_val
    fresh_val = evaluate_model(model, x_val, y_val).accuracy
    recorded_val = result.history["val_accuracy"][-1]
    assert abs(fresh_val - recorded_val) <= AGREEMENT, f"{name}: validation {recorded_val:.4f} vs fresh {fresh_val:.4f}"
