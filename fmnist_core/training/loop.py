"""The run loop: create or reopen a run, fit with the callbacks, evaluate on the test set, save."""

from __future__ import annotations

import fcntl
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..config import TrainConfig
from ..data import Dataset, load_dataset
from ..errors import RunError, TrainingBusyError
from ..evaluation import cached_predictions
from ..export import export_run_litert
from ..runs import METRICS_FILE, MODEL_FILE, RunInfo, RunStatus, RunStore, atomic_save_model, atomic_write_json, utc_now
from .context import CallbackFactory
from .events import Listener, RenderProgress, TrainingFinished, TrainingResult, TrainingStarted
from .hardware import distribution_strategy, package_versions
from .optimizer import build_compiled_model
from .pipeline import make_dataset, prepare_data


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


@dataclass(frozen=True)
class FitOptions:
    """How a run is watched and steered, as opposed to what it trains (the TrainConfig)."""

    listener: Listener | None = None
    stop_event: threading.Event | None = None
    report_every_s: float = 0.2
    callbacks: Sequence[CallbackFactory] = ()

    @property
    def stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()


def train(
    config: TrainConfig,
    *,
    dataset: Dataset | None = None,
    store: RunStore | None = None,
    listener: Listener | None = None,
    stop_event: threading.Event | None = None,
    command: str | None = None,
    report_every_s: float = 0.2,
    callbacks: Sequence[CallbackFactory] = (),
) -> TrainingResult:
    """Train, evaluate on the test set, and save everything under a new run folder.

    `callbacks` are factories called with the run's TrainingContext, each returning a Keras callback
    (benchmarks use one to watch the test accuracy while training, off the clock).
    """
    store = store or RunStore()
    dataset = dataset or load_dataset()
    options = FitOptions(listener, stop_event, report_every_s, tuple(callbacks))
    with training_lock(store.root):
        run = store.create(
            config.architecture,
            {
                "config": config.to_dict(),
                # The full network, so any run can be rebuilt, whatever the registry says later.
                "architecture_spec": config.resolved_architecture_spec().to_dict(),
                "status": str(RunStatus.RUNNING),
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
        return _fit_and_save(config, dataset, store, run, history={}, initial_epoch=0, model=None, options=options)


def resume(
    run_id: str,
    *,
    dataset: Dataset | None = None,
    store: RunStore | None = None,
    listener: Listener | None = None,
    stop_event: threading.Event | None = None,
    report_every_s: float = 0.2,
    callbacks: Sequence[CallbackFactory] = (),
) -> TrainingResult:
    """Continue a stopped or interrupted run from its last completed epoch (model and optimizer state)."""
    store = store or RunStore()
    dataset = dataset or load_dataset()
    options = FitOptions(listener, stop_event, report_every_s, tuple(callbacks))
    with training_lock(store.root):
        run = store.get(run_id)
        if not run.resumable:
            raise RunError(f"run {run_id!r} ({run.status}) has no completed epoch left to resume from")
        config = TrainConfig.from_dict(run.config)
        # The checkpoint was saved compiled; load it compiled so the optimizer state comes back. One
        # verified load: a second, unchecked read of the file could see a different file than the hash.
        # It holds the weight average of its last epoch, which the resumed run trains on from.
        model = store.load_model(run_id, allow_checkpoint=True, compile=True)
        run.update(status=RunStatus.RUNNING, pid=os.getpid(), resumed_at=utc_now())
        store.write_meta(run)
        # Temporary files left by a process killed while writing are never part of a run.
        for leftover in run.path.glob(".*"):
            if leftover.is_file():
                leftover.unlink(missing_ok=True)
        return _fit_and_save(
            config, dataset, store, run, history=run.history(), initial_epoch=run.epochs_completed, model=model,
            options=options,
        )


def _add_photo_renders(config: TrainConfig, dataset: Dataset, run: RunInfo, x_train, y_train,
                       options: FitOptions):
    """The training set plus photo renders of config.photo_renders of its images: made, or read from the
    cache (photo_renders.default_cache_dir), with progress reports; stopping early when asked (the run then
    stops before its first batch)."""
    from ..photo_renders import default_cache_dir, photo_renders, with_photo_renders

    listener = options.listener

    def report(done: int, total: int, from_cache: int, elapsed: float) -> None:
        if listener is not None:
            listener(RenderProgress(run.run_id, done, total, elapsed, already_done=from_cache))

    count = round(config.photo_renders * len(y_train))
    renders = photo_renders(dataset.x_train, dataset.y_train, count, default_cache_dir(),
                            progress=report, should_stop=lambda: options.stop_requested)
    run.update(photo_renders={"tried": renders.tried, "images": int(len(renders.images)),
                              "from_cache": renders.from_cache})
    return with_photo_renders(x_train, y_train, renders)


def _fit_and_save(
    config: TrainConfig,
    dataset: Dataset,
    store: RunStore,
    run: RunInfo,
    *,
    history: dict[str, list[float]],
    initial_epoch: int,
    model,
    options: FitOptions,
) -> TrainingResult:
    import keras

    from .batchnorm import calibration_sample
    from .callbacks import ProgressCallback, TimeLeft, WeightAverage
    from .context import TrainingClock, TrainingContext

    listener = options.listener
    try:
        keras.utils.set_random_seed(config.seed + initial_epoch)
        x_train, y_train, x_val, y_val = prepare_data(config, dataset)
        if config.photo_renders:
            x_train, y_train = _add_photo_renders(config, dataset, run, x_train, y_train, options)
        run.update(train_images=len(y_train))  # per epoch, photo renders included (benchmarks count FLOP with it)
        steps_per_epoch = math.ceil(len(y_train) / config.batch_size)
        if model is None:
            with distribution_strategy().scope():
                model = build_compiled_model(config, steps_per_epoch)
        if run.record.model.parameters is None:
            # Size and cost of the architecture, so the app can show them without building a model.
            from ..models import multiply_adds

            run.update(model={"parameters": int(model.count_params()), "multiply_adds": multiply_adds(model)})
        train_ds = make_dataset(x_train, y_train, config, training=True)
        val_ds = make_dataset(x_val, y_val, config, training=False)
        # Validate and save an exponential moving average of the weights: far less noisy than the raw
        # weights while the learning rate is high.
        weights = WeightAverage(calibration_sample(x_train, seed=config.seed))
        context = TrainingContext(config, dataset, steps_per_epoch, history, TrainingClock(), weights,
                                  train_images=len(y_train))
        time_left = TimeLeft(batch_size=config.batch_size, validation_images=len(y_val),
                             test_images=len(dataset.y_test))
        progress = ProgressCallback(
            store=store, run=run, history=history, steps_per_epoch=steps_per_epoch, total_epochs=config.epochs,
            clock=context.clock, epoch_metrics=context.epoch_metrics, time_left=time_left, listener=listener,
            stop_event=options.stop_event, report_every_s=options.report_every_s,
        )
        extra = [factory(context) for factory in options.callbacks]
        if listener is not None:
            listener(TrainingStarted(run.run_id, config.epochs, steps_per_epoch, initial_epoch))
        started = time.perf_counter()
        if not options.stop_requested:
            model.fit(
                train_ds,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                validation_data=val_ds,
                shuffle=False,  # the tf.data pipeline shuffles; Keras would warn that it ignores shuffle=True
                callbacks=[weights, *extra, progress],
                verbose=0,
            )
        status = RunStatus.STOPPED if (progress.stopped or options.stop_requested) else RunStatus.COMPLETED
        run.update(train_seconds=(run.record.train_seconds or 0.0) + time.perf_counter() - started)
        weights.set_model(model)
        weights.use_averaged()  # what is saved: the average, with its own batch-norm statistics
        run.update(model_sha256=atomic_save_model(model, run.path / MODEL_FILE))
        # A LiteRT copy beside it, so predict and Classify run without TensorFlow (never fails the save).
        run.update(**export_run_litert(model, run.path, run.meta["model_sha256"]))
        store.write_meta(run)
        # The recorded scores are a fresh float32 evaluation of the file just saved, the one every page
        # and `evaluate` show (and it leaves the predictions cached for the Predictions page).
        summary = cached_predictions(run, store, dataset).summary()
        atomic_write_json(run.path / METRICS_FILE, summary)
        run.update(test={"accuracy": summary["accuracy"], "loss": summary["loss"], "precision": "float32"},
                   status=status, ended_at=utc_now())
        store.write_meta(run)
    except Exception as exc:
        run.update(status=RunStatus.FAILED, ended_at=utc_now(), error=f"{type(exc).__name__}: {exc}")
        store.write_meta(run)
        if listener is not None:
            listener(TrainingFinished(run.run_id, RunStatus.FAILED, None, str(exc)))
        raise
    if listener is not None:
        listener(TrainingFinished(run.run_id, status, run.test_accuracy))
    return TrainingResult(run=run, status=status, history=history)
