"""What runs inside the engine's worker process: one job, trained through the public training API.

Progress goes to the job's state file (the app and CLI read it); a cancel request file makes the
run stop after its current batch and keep its partial run, exactly like Stop in `train`.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path

from .records import JobBook, JobState, JobStatus, this_host

CANCEL_POLL_S = 0.3
PROGRESS_EVERY_S = 0.5
CURVE_POINT_S = 2.0  # seconds of training between two points of the live curve
MAX_CURVE_POINTS = 300  # the state file is rewritten every PROGRESS_EVERY_S: keep it small


def add_curve_point(curve: dict[str, list[float]], event) -> dict[str, list[float]]:
    """The live curve with the event's running loss/accuracy appended; when it passes MAX_CURVE_POINTS
    every other point is dropped, so a long run keeps an evenly spaced curve of bounded size."""
    grown = {key: [*curve.get(key, []), float(value)] for key, value in
             (("epoch", event.epochs_done), ("loss", event.running_loss), ("accuracy", event.running_accuracy))}
    if len(grown["epoch"]) > MAX_CURVE_POINTS:
        grown = {key: values[1::2] for key, values in grown.items()}  # keeps the newest point
    return grown


class ProgressWriter:
    """A training listener that writes the job's state file, at most every PROGRESS_EVERY_S for batches."""

    def __init__(self, book: JobBook, job_id: str, state: JobState) -> None:
        self.book = book
        self.job_id = job_id
        self.state = state
        self._last = 0.0
        self._last_curve_point: float | None = None
        self._lock = threading.Lock()

    def _curve_with(self, event) -> dict[str, list[float]]:
        """A curve point at most every CURVE_POINT_S of training and at each epoch's last batch."""
        last_batch = event.batch >= event.steps_per_epoch
        due = self._last_curve_point is None or event.elapsed_seconds - self._last_curve_point >= CURVE_POINT_S
        if not (due or last_batch) or event.running_loss != event.running_loss:  # NaN: nothing to draw yet
            return self.state.batch_curve
        self._last_curve_point = event.elapsed_seconds
        return add_curve_point(self.state.batch_curve, event)

    def update(self, force: bool = False, **changes) -> None:
        with self._lock:
            if "status" in changes and self.state.status.final and not JobStatus(changes["status"]).final:
                changes.pop("status")  # a late "stopping" never overwrites the final status
            self.state = replace(self.state, **changes)
            now = time.monotonic()
            if force or now - self._last >= PROGRESS_EVERY_S:
                self._last = now
                self.book.write_state(self.job_id, self.state)

    def __call__(self, event) -> None:
        from ..training import BatchProgress, EpochEnd, RenderProgress, TrainingFinished, TrainingStarted

        if isinstance(event, RenderProgress):
            self.update(event.done >= event.total, run_id=event.run_id, renders_done=event.done,
                        renders_total=event.total, eta_seconds=event.eta_seconds)
        elif isinstance(event, TrainingStarted):
            self.update(True, run_id=event.run_id, total_epochs=event.epochs, steps_per_epoch=event.steps_per_epoch,
                        epoch=event.initial_epoch)
        elif isinstance(event, BatchProgress):
            self.update(epoch=event.epoch, batch=event.batch, eta_seconds=event.eta_seconds,
                        metrics={"loss": float(event.loss), "accuracy": float(event.accuracy)},
                        batch_curve=self._curve_with(event))
        elif isinstance(event, EpochEnd):
            self.update(True, epoch=event.epoch, batch=self.state.steps_per_epoch,
                        metrics={k: float(v) for k, v in event.metrics.items()})
        elif isinstance(event, TrainingFinished):
            self.update(True, run_id=event.run_id, test_accuracy=event.test_accuracy, error=event.error)


def _watch_cancel(book: JobBook, job_id: str, stop: threading.Event, done: threading.Event,
                  progress: ProgressWriter) -> None:
    while not done.wait(CANCEL_POLL_S):
        if book.cancel_requested(job_id):
            stop.set()
            progress.update(True, status=JobStatus.STOPPING)
            return


def run_job(runs_root: str, job_id: str, node_id: str | None = None) -> str:
    """Train the job's config (or resume its run) in this process; returns the final job status."""
    from ..config import TrainConfig
    from ..runs import RunStore
    from ..training import resume, train

    book = JobBook(runs_root)
    sub = book.submission(job_id)
    progress = ProgressWriter(book, job_id, replace(book.state(job_id), status=JobStatus.RUNNING, pid=os.getpid(),
                                                    host=this_host(), node_id=node_id, started_at=time.time()))
    progress.update(True)
    stop, done = threading.Event(), threading.Event()
    watcher = threading.Thread(target=_watch_cancel, args=(book, job_id, stop, done, progress), daemon=True)
    watcher.start()
    store = RunStore(Path(runs_root))
    try:
        if sub.resume_run_id:
            result = resume(sub.resume_run_id, store=store, listener=progress, stop_event=stop)
        else:
            result = train(TrainConfig.from_dict(sub.config), store=store, listener=progress, stop_event=stop,
                           command=f"fmnist engine job {job_id} (submitted by {sub.submitter})")
        status = JobStatus(str(result.status))
        progress.update(True, status=status, run_id=result.run.run_id, test_accuracy=result.test_accuracy,
                        finished_at=time.time())
    except Exception as exc:  # noqa: BLE001 - the failure is the job's result, shown to its submitter
        status = JobStatus.FAILED
        progress.update(True, status=status, error=f"{type(exc).__name__}: {exc}", finished_at=time.time())
    finally:
        done.set()
    return str(status)
