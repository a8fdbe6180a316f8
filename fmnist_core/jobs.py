"""A background training job per server: it survives page changes, streams progress and can be stopped."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable

from .config import TrainConfig
from .data import Dataset
from .errors import TrainingBusyError
from .runs import RunStatus, RunStore
from .training import BatchProgress, EpochEnd, TrainingEvent, TrainingFinished, TrainingStarted, resume, train


class JobStatus(StrEnum):
    """A background job's state: the run's own end states, plus the moments before and after it runs."""

    STARTING = "starting"  # the thread is up; data and model are being prepared
    RUNNING = "running"
    STOPPING = "stopping"  # a stop was asked for; it ends after the current batch
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        return self in ACTIVE_JOB_STATUSES

    @classmethod
    def of_run(cls, status: RunStatus | str) -> JobStatus:
        """The job's end state for the run status train()/resume() reported."""
        try:
            return cls(str(status))
        except ValueError:
            return cls.FAILED


# Seconds between two points of the live training curve.
CURVE_POINT_SECONDS = 2.0

# A job in one of these holds the server's one training slot.
ACTIVE_JOB_STATUSES = frozenset({JobStatus.STARTING, JobStatus.RUNNING, JobStatus.STOPPING})


@dataclass(frozen=True)
class JobSnapshot:
    """An immutable copy of a job's state, safe to read from any session."""

    job_id: int
    status: JobStatus
    config: TrainConfig | None
    run_id: str | None
    epoch: int
    total_epochs: int
    batch: int
    steps_per_epoch: int
    elapsed_seconds: float
    eta_seconds: float | None
    history: dict[str, list[float]]
    test_accuracy: float | None
    error: str | None
    # The live training curve: "epoch" (fractional), "loss" and "accuracy" (smoothed running values),
    # a point every CURVE_POINT_SECONDS from the first batches on.
    batch_curve: dict[str, list[float]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status.active

    @property
    def fraction(self) -> float:
        if not self.total_epochs or not self.steps_per_epoch:
            return 0.0
        done = (self.epoch - 1) * self.steps_per_epoch + self.batch if self.epoch else 0
        return min(1.0, max(0.0, done / (self.total_epochs * self.steps_per_epoch)))


@dataclass
class _Job:
    job_id: int
    config: TrainConfig | None
    stop_event: threading.Event = field(default_factory=threading.Event)
    status: JobStatus = JobStatus.STARTING
    run_id: str | None = None
    epoch: int = 0
    total_epochs: int = 0
    batch: int = 0
    steps_per_epoch: int = 0
    started: float = field(default_factory=time.perf_counter)
    eta_seconds: float | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    batch_curve: dict[str, list[float]] = field(default_factory=lambda: {"epoch": [], "loss": [], "accuracy": []})
    last_curve_point: float | None = None
    test_accuracy: float | None = None
    error: str | None = None
    thread: threading.Thread | None = None

    def add_curve_point(self, event: BatchProgress) -> None:
        """A point of the live curve at most every CURVE_POINT_SECONDS (and at each epoch's last batch)."""
        last_batch = event.batch >= event.steps_per_epoch
        due = self.last_curve_point is None or event.elapsed_seconds - self.last_curve_point >= CURVE_POINT_SECONDS
        if not (due or last_batch) or event.running_loss != event.running_loss:  # NaN: nothing to draw
            return
        self.last_curve_point = event.elapsed_seconds
        for key, value in (("epoch", event.epochs_done), ("loss", event.running_loss),
                           ("accuracy", event.running_accuracy)):
            self.batch_curve[key].append(float(value))


class JobManager:
    """Runs at most one training job at a time in this process; every session sees the same job."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: _Job | None = None
        self._counter = 0

    def start(
        self,
        config: TrainConfig,
        *,
        store: RunStore,
        dataset: Dataset | None = None,
        resume_run_id: str | None = None,
    ) -> JobSnapshot:
        with self._lock:
            if self._job is not None and self._job.status.active:
                raise TrainingBusyError("a training job is already running on this server; watch it or stop it first")
            self._counter += 1
            job = _Job(self._counter, config)
            self._job = job
        listener = self._listener_for(job)

        def work() -> None:
            try:
                if resume_run_id is not None:
                    resume(resume_run_id, dataset=dataset, store=store, listener=listener, stop_event=job.stop_event)
                else:
                    train(config, dataset=dataset, store=store, listener=listener, stop_event=job.stop_event,
                          command="streamlit app")
            except Exception as exc:  # noqa: BLE001 - reported to the page, never raised in a thread
                with self._lock:
                    job.status = JobStatus.FAILED
                    job.error = str(exc) or type(exc).__name__

        job.thread = threading.Thread(target=work, name=f"training-job-{job.job_id}", daemon=True)
        job.thread.start()
        return self.snapshot()

    def _listener_for(self, job: _Job) -> Callable[[TrainingEvent], None]:
        def on_event(event: TrainingEvent) -> None:
            with self._lock:
                if isinstance(event, TrainingStarted):
                    job.run_id = event.run_id
                    job.total_epochs = event.epochs
                    job.steps_per_epoch = event.steps_per_epoch
                    job.epoch = event.initial_epoch
                    if job.status == JobStatus.STARTING:
                        job.status = JobStatus.RUNNING
                elif isinstance(event, BatchProgress):
                    job.epoch, job.batch = event.epoch, event.batch
                    job.eta_seconds = event.eta_seconds
                    job.add_curve_point(event)
                elif isinstance(event, EpochEnd):
                    job.history = event.history
                elif isinstance(event, TrainingFinished):
                    job.status = JobStatus.of_run(event.status)
                    job.test_accuracy = event.test_accuracy
                    job.error = event.error

        return on_event

    def stop(self) -> bool:
        """Ask the running job to stop after its current batch; False if nothing runs."""
        with self._lock:
            job = self._job
            if job is None or job.status not in {JobStatus.STARTING, JobStatus.RUNNING}:
                return False
            job.status = JobStatus.STOPPING
            job.stop_event.set()
            return True

    def wait(self, timeout: float | None = None) -> JobSnapshot | None:
        job = self._job
        if job is not None and job.thread is not None:
            job.thread.join(timeout)
        return self.snapshot()

    def snapshot(self) -> JobSnapshot | None:
        with self._lock:
            job = self._job
            if job is None:
                return None
            return JobSnapshot(
                job_id=job.job_id,
                status=job.status,
                config=job.config,
                run_id=job.run_id,
                epoch=job.epoch,
                total_epochs=job.total_epochs,
                batch=job.batch,
                steps_per_epoch=job.steps_per_epoch,
                elapsed_seconds=time.perf_counter() - job.started,
                eta_seconds=job.eta_seconds,
                history={key: list(values) for key, values in job.history.items()},
                test_accuracy=job.test_accuracy,
                error=job.error,
                batch_curve={key: list(values) for key, values in job.batch_curve.items()},
            )


# One manager per server process: Streamlit sessions share module state.
JOB_MANAGER = JobManager()
