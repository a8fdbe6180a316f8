"""One call trains a model from a config, reports progress to a listener, can be stopped, and saves the run."""

from __future__ import annotations

import fcntl
import math
import os
import platform
import socket
import sys
import threading
import time
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .config import TrainConfig
from .constants import NUM_CLASSES
from .data import Dataset, load_dataset, stratified_split
from .errors import ConfigError, RunError, TrainingBusyError
from .evaluation import evaluate_model, predict_probabilities
from .runs import (
    CHECKPOINT_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_RUNNING,
    STATUS_STOPPED,
    RunInfo,
    RunStore,
    atomic_save_model,
    atomic_write_json,
    utc_now,
)

HISTORY_KEYS = (
    "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "train_seconds", "cpu_seconds", "learning_rate"
)  # plus "test_accuracy" and the "monitor_*" lists when train(monitor=TestMonitor(...))


# ---------------------------------------------------------------- events sent to listeners
@dataclass(frozen=True)
class TrainingStarted:
    run_id: str
    epochs: int
    steps_per_epoch: int
    initial_epoch: int


@dataclass(frozen=True)
class BatchProgress:
    epoch: int  # 1-based
    batch: int  # 1-based, within the epoch
    steps_per_epoch: int
    loss: float
    accuracy: float
    elapsed_seconds: float
    eta_seconds: float


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    metrics: dict[str, float]
    history: dict[str, list[float]]


@dataclass(frozen=True)
class TrainingFinished:
    run_id: str
    status: str
    test_accuracy: float | None
    error: str | None = None


TrainingEvent = TrainingStarted | BatchProgress | EpochEnd | TrainingFinished
Listener = Callable[[TrainingEvent], None]


@dataclass
class TrainingResult:
    run: RunInfo
    status: str
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float | None:
        return self.run.test_accuracy


@dataclass(frozen=True)
class TestMonitor:
    """Benchmarks only: record the test accuracy while training, with the evaluation kept off the clock.

    After every epoch, and every `every_images` training images until the accuracy first reaches
    `until_accuracy` (a count of images, not of steps, so recipes with different batch sizes are
    checked at the same points). History gains "test_accuracy" per epoch and the parallel lists
    "monitor_epochs" (fractional), "monitor_seconds" (training clock) and "monitor_test_accuracy".
    No recipe is tuned on these figures.
    """

    every_images: int | None = None
    until_accuracy: float | None = None
    # End the run (status "stopped") at the first check that reaches until_accuracy: a race to it.
    stop_when_reached: bool = False


class _TestClock:
    """Test-set checkpoints on a training clock that stops while the model is being evaluated."""

    def __init__(self, monitor: TestMonitor, test_set, history, steps_per_epoch: int, batch_size: int,
                 test_is_validation: bool):
        self.monitor = monitor
        # The seed recipe validates on the test set: its epoch-end validation accuracy is the test accuracy.
        self.test_is_validation = test_is_validation
        self.images, self.labels = test_set
        self.history = history
        self.steps_per_epoch = steps_per_epoch
        every = monitor.every_images
        self.every_steps = max(1, round(every / batch_size)) if every else 0
        self.reached = False
        self.clock_base = float(sum(history.get("train_seconds", [])))
        self.paused_wall = self.paused_cpu = 0.0

    def start_epoch(self) -> None:
        self.paused_wall = self.paused_cpu = 0.0

    def due(self, steps_done: int, batch: int) -> bool:
        """A mid-epoch checkpoint; the epoch's last step is left to the epoch-end one."""
        return (
            bool(self.every_steps) and not self.reached and steps_done % self.every_steps == 0
            and batch + 1 < self.steps_per_epoch
        )

    def checkpoint(self, model, epoch: float, epoch_train_seconds: float, accuracy: float | None = None) -> float:
        wall, cpu = time.perf_counter(), time.process_time()
        if accuracy is None:
            with _ema_weights(model):
                probabilities = predict_probabilities(model, self.images)
            accuracy = float((probabilities.argmax(axis=1) == self.labels).mean())
        for key, value in (("monitor_epochs", epoch), ("monitor_seconds", self.clock_base + epoch_train_seconds),
                           ("monitor_test_accuracy", accuracy)):
            self.history.setdefault(key, []).append(float(value))
        if self.monitor.until_accuracy is not None and accuracy >= self.monitor.until_accuracy:
            self.reached = True
        self.paused_wall += time.perf_counter() - wall
        self.paused_cpu += time.process_time() - cpu
        return accuracy

    def end_epoch(self, train_seconds: float) -> None:
        self.clock_base += train_seconds


@contextmanager
def _ema_weights(model) -> Iterator[None]:
    """The EMA weights in the model for the duration (as Keras' SwapEMAWeights does for validation)."""
    optimizer = model.optimizer
    if not getattr(optimizer, "use_ema", False):
        yield
        return
    variables = optimizer._trainable_variables
    raw = [variable.numpy() for variable in variables]
    for variable, average in zip(variables, optimizer._model_variables_moving_average):
        variable.assign(average)
    try:
        yield
    finally:
        for variable, value in zip(variables, raw):
            variable.assign(value)


# ---------------------------------------------------------------- one job at a time
@contextmanager
def training_lock(runs_root: Path) -> Iterator[None]:
    """An exclusive lock on the runs folder, so a server (and its CLI) trains one model at a time."""
    runs_root.mkdir(parents=True, exist_ok=True)
    handle = open(runs_root / ".training.lock", "w")  # noqa: SIM115 - held for the with-block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainingBusyError("another training job is running on this server; wait for it to end") from None
        yield
    finally:
        handle.close()


# ---------------------------------------------------------------- data and model set-up
def prepare_data(config: TrainConfig, dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """uint8 training images/labels and the validation set the config asks for."""
    if config.validation == "test":
        x_train, y_train, x_val, y_val = dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test
    else:
        split = stratified_split(dataset.x_train, dataset.y_train)
        x_train, y_train, x_val, y_val = split.x_train, split.y_train, split.x_val, split.y_val
    if config.train_limit is not None and config.train_limit < len(y_train):
        keep = len(y_train) - config.train_limit
        subset = stratified_split(x_train, y_train, val_size=keep, seed=config.seed)
        x_train, y_train = subset.x_train, subset.y_train
    return x_train, y_train, x_val, y_val


def make_dataset(images: np.ndarray, labels: np.ndarray, config: TrainConfig, *, training: bool):
    """A tf.data pipeline: shuffle indices, gather whole batches, scale, augment whole batches, prefetch.

    Shuffling indices rather than (image, label) elements: the buffer of 55,000 integers fills at once
    (the element-wise buffer took 0.24 s at the start of every epoch) and a batch is one gather.
    """
    import tensorflow as tf  # noqa: PLC0415

    from .augmentation import build_augmentation  # noqa: PLC0415

    all_images = tf.constant(images[..., np.newaxis])
    all_labels = tf.constant(labels.astype(np.int32))
    ds = tf.data.Dataset.range(len(labels))
    if training:
        ds = ds.shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.batch(config.batch_size if training else 1000)

    def fetch(indices):
        x = tf.cast(tf.gather(all_images, indices), tf.float32) / 255.0
        return x, tf.one_hot(tf.gather(all_labels, indices), NUM_CLASSES)

    ds = ds.map(fetch, num_parallel_calls=tf.data.AUTOTUNE)
    if training and config.augmentation.enabled:
        stack = build_augmentation(config.augmentation, seed=config.seed)
        # Sequential on purpose: the random layers draw from one stateful seed generator, and parallel
        # calls would take those draws in thread-dependent order, so a seeded run would not repeat.
        ds = ds.map(lambda x, y: (stack(x, training=True), y))
    return ds.prefetch(tf.data.AUTOTUNE)


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    from .schedules import WarmupCosine  # noqa: PLC0415

    if config.schedule == "constant":
        return config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)
    initial = config.learning_rate * 0.1 if warmup else config.learning_rate
    return WarmupCosine(initial, config.learning_rate, warmup, total - warmup, alpha=0.01)


def build_compiled_model(config: TrainConfig, steps_per_epoch: int):
    import keras  # noqa: PLC0415

    from .models import build_model  # noqa: PLC0415

    previous_policy = keras.mixed_precision.dtype_policy()
    policy = mixed_precision_policy() if config.mixed_precision else None
    if policy:
        keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = build_model(config.architecture)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)
    if config.mirror_averaging:
        from .mirror import mirror_averaged  # noqa: PLC0415

        model = mirror_averaged(model)  # float32 policy: the average of two float32 softmax outputs
    lr = learning_rate_schedule(config, steps_per_epoch)
    # EMA: validate and save an exponential moving average of the weights, which is far less noisy
    # than the raw weights while the learning rate is high.
    momentum = effective_ema_momentum(config.ema_momentum, config.epochs * steps_per_epoch)
    ema = {"use_ema": True, "ema_momentum": momentum} if momentum else {}
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(lr, **ema)
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(lr, weight_decay=config.weight_decay, **ema)
    else:
        optimizer = keras.optimizers.SGD(
            lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay or None, **ema
        )
    if ema:
        warm_up_ema(optimizer)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def mixed_precision_policy() -> str | None:
    """float16 on GPUs, bfloat16 on CPUs that compute it natively, else None (plain float32)."""
    if _gpu_count():
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16() else None


def effective_ema_momentum(momentum: float, total_steps: int) -> float:
    """Cap the EMA's horizon (about 1 / (1 - momentum) steps) at a tenth of the run, so a short run
    (a 1-epoch try on a subset) averages its own trained weights, not its random initial ones."""
    horizon = total_steps / 10
    if not momentum or horizon <= 1:
        return 0.0
    return min(momentum, 1.0 - 1.0 / horizon)


def warm_up_ema(optimizer) -> None:
    """Let the weight EMA's momentum grow with the step: min(momentum, (1 + t) / (10 + t)), the rule of
    TensorFlow's ExponentialMovingAverage(num_updates=...).

    Keras' own EMA applies the full momentum from the second step, so at 0.99 the averaged (validated,
    saved) weights are still half the random initial ones after 70 steps: test accuracy stayed at chance
    for the first third of an epoch. Set on the optimizer instance, before the train step is traced;
    `resume` sets it again on the reloaded optimizer.
    """
    from keras import ops  # noqa: PLC0415

    def update_moving_average(self, trainable_variables):
        step = ops.cast(self.iterations, "float32")
        momentum = ops.minimum(self.ema_momentum, (1.0 + step) / (10.0 + step))
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                m = ops.cast(momentum, variable.dtype)
                average.assign(m * average + (1.0 - m) * variable)

    optimizer._update_model_variables_moving_average = types.MethodType(update_moving_average, optimizer)


def batch_norm_callbacks(model, images: np.ndarray, seed: int) -> list:
    """Recalibrate batch norm for the weights each validation pass sees (after the EMA swap)."""
    import keras  # noqa: PLC0415

    if not batch_norm_layers(model):
        return []

    class RecalibrateBatchNorm(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            recalibrate_batch_norm(self.model, images, seed=seed)

    return [RecalibrateBatchNorm()]


def ema_callbacks(model) -> list:
    """Swap the EMA weights in for each validation pass and epoch-end checkpoint (Keras' own callback)."""
    import keras  # noqa: PLC0415

    if getattr(model.optimizer, "use_ema", False):
        return [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)]
    return []


# Images whose batch statistics become the batch-norm layers' inference statistics (see
# recalibrate_batch_norm). 4,096 un-augmented training images take well under a second to pass forward.
BN_RECALIBRATION_IMAGES = 4096


def batch_norm_layers(model) -> list:
    """Every BatchNormalization layer of a model, nested models and wrappers included (public `layers`)."""
    import keras  # noqa: PLC0415

    found, stack = [], [model]
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        stack.extend(reversed(getattr(layer, "layers", None) or []))
    return found


def recalibrate_batch_norm(model, images: np.ndarray, *, batch_size: int = 256, seed: int = 0) -> bool:
    """Set each batch-norm layer's inference statistics to the mean of its batch statistics over
    `images` (up to BN_RECALIBRATION_IMAGES of them), computed with the weights now in the model.

    Why: the moving statistics are an average (momentum 0.9) of batch statistics seen while the raw
    weights changed, starting from mean 0 and variance 1. After a few steps they are still mostly that
    start (16 steps leave 0.9**16 = 19% of it: a first-layer variance of 0.19 where the true one was
    0.005, and 10% test accuracy at 73% training accuracy), and they never belong to the averaged (EMA)
    weights that are validated and saved. A forward pass over a sample, averaged with momentum k/(k+1)
    for the k-th batch, gives exact statistics for the weights that are actually evaluated.
    Returns False when the model has no batch norm (nothing to do).
    """
    layers = batch_norm_layers(model)
    if not layers or not len(images):
        return False
    from .data import normalize  # noqa: PLC0415

    if len(images) > BN_RECALIBRATION_IMAGES:
        pick = np.random.default_rng(seed).choice(len(images), BN_RECALIBRATION_IMAGES, replace=False)
        images = images[np.sort(pick)]
    x = normalize(images)
    momenta = [layer.momentum for layer in layers]
    try:
        for k, start in enumerate(range(0, len(x), batch_size)):
            for layer in layers:
                layer.momentum = k / (k + 1)  # read on every eager call: a running mean of the batches
            model(x[start : start + batch_size], training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return True


def _gpu_count() -> int:
    import tensorflow as tf  # noqa: PLC0415

    return len(tf.config.list_physical_devices("GPU"))


def distribution_strategy():
    """MirroredStrategy across several GPUs, else TensorFlow's default strategy."""
    import tensorflow as tf  # noqa: PLC0415

    if _gpu_count() > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def package_versions() -> dict[str, str]:
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


# ---------------------------------------------------------------- progress callback
def _make_callback(
    store: RunStore,
    run: RunInfo,
    history: dict[str, list[float]],
    steps_per_epoch: int,
    total_epochs: int,
    listener: Listener | None,
    stop_event: threading.Event | None,
    report_every_s: float,
    test_clock: _TestClock | None = None,
):
    import keras  # noqa: PLC0415

    class ProgressCallback(keras.callbacks.Callback):
        """Streams batch/epoch progress, honours stop requests, checkpoints every completed epoch."""

        def __init__(self) -> None:
            super().__init__()
            self.stopped = False
            self.train_start = time.perf_counter()
            self.batches_done = 0
            self.last_report = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            self.epoch_wall = time.perf_counter()
            self.epoch_cpu = time.process_time()
            if test_clock is not None:
                test_clock.start_epoch()

        def on_train_batch_end(self, batch, logs=None):
            self.batches_done += 1
            self.last_batch_end = time.perf_counter()
            if test_clock is not None and test_clock.due(self.batches_done, batch):
                elapsed = self.last_batch_end - self.epoch_wall - test_clock.paused_wall
                test_clock.checkpoint(self.model, self.epoch + (batch + 1) / steps_per_epoch, elapsed)
                if test_clock.reached and test_clock.monitor.stop_when_reached:
                    self.model.stop_training = True
                    self.stopped = True
            if stop_event is not None and stop_event.is_set():
                self.model.stop_training = True
                self.stopped = True
            now = time.perf_counter()
            last_batch = batch + 1 >= steps_per_epoch
            if listener is None or (now - self.last_report < report_every_s and not last_batch and not self.stopped):
                return
            self.last_report = now
            elapsed = now - self.train_start
            remaining = (total_epochs - self.epoch) * steps_per_epoch - (batch + 1)
            eta = elapsed / self.batches_done * max(0, remaining)
            logs = logs or {}
            listener(
                BatchProgress(
                    epoch=self.epoch + 1,
                    batch=batch + 1,
                    steps_per_epoch=steps_per_epoch,
                    loss=float(logs.get("loss", math.nan)),
                    accuracy=float(logs.get("accuracy", math.nan)),
                    elapsed_seconds=elapsed,
                    eta_seconds=eta,
                )
            )

        def on_epoch_end(self, epoch, logs=None):
            if self.stopped:  # a partial epoch is not a completed one
                return
            logs = logs or {}
            metrics = {key: float(logs[key]) for key in ("loss", "accuracy", "val_loss", "val_accuracy") if key in logs}
            paused_wall = test_clock.paused_wall if test_clock else 0.0  # benchmark checkpoints, off the clock
            paused_cpu = test_clock.paused_cpu if test_clock else 0.0
            metrics["seconds"] = time.perf_counter() - self.epoch_wall - paused_wall
            # Training alone, without the validation pass, for throughput figures.
            metrics["train_seconds"] = self.last_batch_end - self.epoch_wall - paused_wall
            metrics["cpu_seconds"] = time.process_time() - self.epoch_cpu - paused_cpu
            metrics["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
            if test_clock is not None:
                # The EMA weights are in the model here (SwapEMAWeights runs first).
                known = metrics.get("val_accuracy") if test_clock.test_is_validation else None
                metrics["test_accuracy"] = test_clock.checkpoint(
                    self.model, epoch + 1, metrics["train_seconds"], known
                )
                test_clock.end_epoch(metrics["train_seconds"])
            for key, value in metrics.items():
                history.setdefault(key, []).append(value)
            run.meta["checkpoint_sha256"] = atomic_save_model(self.model, run.path / CHECKPOINT_FILE)
            atomic_write_json(run.path / HISTORY_FILE, history)
            run.meta["epochs_completed"] = epoch + 1
            store.write_meta(run)
            if listener is not None:
                listener(EpochEnd(epoch=epoch + 1, metrics=metrics, history={k: list(v) for k, v in history.items()}))

    return ProgressCallback()


# ---------------------------------------------------------------- the public calls
def train(
    config: TrainConfig,
    *,
    dataset: Dataset | None = None,
    store: RunStore | None = None,
    listener: Listener | None = None,
    stop_event: threading.Event | None = None,
    command: str | None = None,
    report_every_s: float = 0.2,
    monitor: TestMonitor | None = None,
) -> TrainingResult:
    """Train, evaluate on the test set, and save everything under a new run folder.

    `monitor` records the test accuracy as training goes (benchmarks only, see TestMonitor).
    """
    store = store or RunStore()
    dataset = dataset or load_dataset()
    with training_lock(store.root):
        run = store.create(
            config.architecture,
            {
                "config": config.to_dict(),
                "status": STATUS_RUNNING,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started_at": utc_now(),
                "data_source": {
                    "description": dataset.source.description,
                    "official": dataset.source.official,
                    "md5": dataset.source.md5,
                },
                "versions": package_versions(),
                "command": command or " ".join(sys.argv),
                "epochs_completed": 0,
            },
        )
        return _fit_and_save(
            config, dataset, store, run, {}, 0, listener, stop_event, report_every_s, None, monitor
        )


def resume(
    run_id: str,
    *,
    dataset: Dataset | None = None,
    store: RunStore | None = None,
    listener: Listener | None = None,
    stop_event: threading.Event | None = None,
    report_every_s: float = 0.2,
) -> TrainingResult:
    """Continue a stopped or interrupted run from its last completed epoch (model and optimizer state)."""
    store = store or RunStore()
    dataset = dataset or load_dataset()
    with training_lock(store.root):
        run = store.get(run_id)
        if not run.resumable:
            raise RunError(f"run {run_id!r} ({run.status}) has no completed epoch left to resume from")
        config = TrainConfig.from_dict(run.config)
        # The checkpoint was saved compiled; load it compiled so the optimizer state comes back. One
        # verified load: a second, unchecked read of the file could see a different file than the hash.
        model = store.load_model(run_id, allow_checkpoint=True, compile=True)
        if getattr(model.optimizer, "use_ema", False):
            warm_up_ema(model.optimizer)
        run.meta.update(status=STATUS_RUNNING, pid=os.getpid(), resumed_at=utc_now())
        store.write_meta(run)
        # Temporary files left by a process killed while writing are never part of a run.
        for leftover in run.path.glob(".*"):
            if leftover.is_file():
                leftover.unlink(missing_ok=True)
        history = run.history()
        return _fit_and_save(
            config, dataset, store, run, history, run.epochs_completed, listener, stop_event, report_every_s, model
        )


def _fit_and_save(
    config: TrainConfig,
    dataset: Dataset,
    store: RunStore,
    run: RunInfo,
    history: dict[str, list[float]],
    initial_epoch: int,
    listener: Listener | None,
    stop_event: threading.Event | None,
    report_every_s: float,
    model,
    monitor: TestMonitor | None = None,
) -> TrainingResult:
    import keras  # noqa: PLC0415

    try:
        keras.utils.set_random_seed(config.seed + initial_epoch)
        x_train, y_train, x_val, y_val = prepare_data(config, dataset)
        steps_per_epoch = math.ceil(len(y_train) / config.batch_size)
        if model is None:
            with distribution_strategy().scope():
                model = build_compiled_model(config, steps_per_epoch)
        if "model" not in run.meta:
            # Size and cost of the architecture, so the app can show them without building a model.
            from .models import multiply_adds  # noqa: PLC0415

            run.meta["model"] = {"parameters": int(model.count_params()), "multiply_adds": multiply_adds(model)}
        train_ds = make_dataset(x_train, y_train, config, training=True)
        val_ds = make_dataset(x_val, y_val, config, training=False)
        test_clock = None
        if monitor is not None:
            test_set = (dataset.x_test, dataset.y_test)
            test_clock = _TestClock(monitor, test_set, history, steps_per_epoch, config.batch_size,
                                    test_is_validation=config.validation == "test")
        callback = _make_callback(
            store, run, history, steps_per_epoch, config.epochs, listener, stop_event, report_every_s, test_clock
        )
        if listener is not None:
            listener(TrainingStarted(run.run_id, config.epochs, steps_per_epoch, initial_epoch))
        started = time.perf_counter()
        if not (stop_event is not None and stop_event.is_set()):
            model.fit(
                train_ds,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                validation_data=val_ds,
                callbacks=[*ema_callbacks(model), *batch_norm_callbacks(model, x_train, config.seed), callback],
                verbose=0,
            )
        status = STATUS_STOPPED if (callback.stopped or (stop_event is not None and stop_event.is_set())) else STATUS_COMPLETED
        run.meta["train_seconds"] = run.meta.get("train_seconds", 0.0) + time.perf_counter() - started
        recalibrate_batch_norm(model, x_train, seed=config.seed)  # the saved weights' own statistics
        result = evaluate_model(model, dataset.x_test, dataset.y_test)
        summary = result.summary()
        atomic_write_json(run.path / METRICS_FILE, summary)
        run.meta["model_sha256"] = atomic_save_model(model, run.path / MODEL_FILE)
        run.meta["test"] = {"accuracy": summary["accuracy"], "loss": summary["loss"]}
        run.meta.update(status=status, ended_at=utc_now())
        store.write_meta(run)
    except Exception as exc:
        run.meta.update(status=STATUS_FAILED, ended_at=utc_now(), error=f"{type(exc).__name__}: {exc}")
        store.write_meta(run)
        if listener is not None:
            listener(TrainingFinished(run.run_id, STATUS_FAILED, None, str(exc)))
        raise
    if listener is not None:
        listener(TrainingFinished(run.run_id, status, run.test_accuracy))
    return TrainingResult(run=run, status=status, history=history)


def validate_for_training(config: TrainConfig) -> None:
    """Reject settings that cannot train before any work starts (used by the CLI and the app)."""
    if config.train_limit is not None and config.train_limit < config.batch_size:
        raise ConfigError("the training subset is smaller than one batch")
