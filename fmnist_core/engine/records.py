"""The persistent job queue: one JSON file per submission in <runs>/jobs/, no Ray, no Streamlit.

The queue lives on disk, not in any process, so it survives a restart of the web server and of the
engine. Each file has one writer, so no two processes ever race on a file:
  <id>.json        the submission (written once by the app or CLI);
  <id>.cancel      a cancel request (app or CLI);
  <id>.state.json  status and progress (the engine while queued/starting, then the worker,
                   then the engine again only if the worker died).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..errors import FmnistError

JOBS_FOLDER = "jobs"
ENGINE_LOCK = "engine.lock"  # held by the engine process while it lives (one per runs folder)
ENGINE_INFO = "engine.json"  # the engine's pid, Ray address and heartbeat
_JOB_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")


class JobStatus(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATUSES

    @property
    def final(self) -> bool:
        return self not in ACTIVE_STATUSES


class JobKind(StrEnum):
    """What a queue entry runs: one training run, or a sweep (many trials through Ray Tune, one entry)."""

    TRAIN = "train"
    SWEEP = "sweep"


ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.STARTING, JobStatus.RUNNING, JobStatus.STOPPING})
# Statuses in which a worker process may exist (the engine checks these for orphans after a restart).
WORKER_STATUSES = frozenset({JobStatus.STARTING, JobStatus.RUNNING, JobStatus.STOPPING})


class JobError(FmnistError):
    """A job cannot be submitted, found or cancelled."""


class JobNotFoundError(JobError):
    pass


class QueueLimitError(JobError):
    """The submitter already has as many unfinished jobs as the limit allows."""


class CancelNotAllowedError(JobError):
    """Only the submitter (or an admin) may cancel a job."""


@dataclass(frozen=True)
class Submission:
    """What was asked for: written once, never changed."""

    job_id: str
    submitter: str
    config: dict[str, Any]
    created_ns: int
    summary: str
    resume_run_id: str | None = None
    sweep_id: str | None = None
    kind: JobKind = JobKind.TRAIN
    sweep: dict[str, Any] | None = None  # a sweep's SweepSpec.to_dict() (engine/sweep_space.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", JobKind(self.kind))  # read back from JSON as a plain string


@dataclass(frozen=True)
class JobState:
    """How the job is doing: status and the latest progress the worker reported."""

    status: JobStatus = JobStatus.QUEUED
    run_id: str | None = None
    epoch: int = 0
    total_epochs: int = 0
    batch: int = 0
    steps_per_epoch: int = 0
    eta_seconds: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    test_accuracy: float | None = None
    error: str | None = None
    pid: int | None = None
    host: str | None = None
    node_id: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0
    # The live curve of the running job: fractional "epoch" with smoothed running "loss" and
    # "accuracy" (charts.training_curves' batch_curve), bounded by worker.MAX_CURVE_POINTS.
    batch_curve: dict[str, list[float]] = field(default_factory=dict)
    # Photo renders of training images made before the first batch (config.photo_renders), if any.
    renders_done: int = 0
    renders_total: int = 0

    @property
    def fraction(self) -> float:
        if not self.total_epochs or not self.steps_per_epoch:
            # Before the first batch: the photo renders' share, when there are any to make.
            return min(1.0, self.renders_done / self.renders_total) if self.renders_total else 0.0
        done = max(0, self.epoch - 1) * self.steps_per_epoch + self.batch
        return min(1.0, max(0.0, done / (self.total_epochs * self.steps_per_epoch)))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = JobStatus(values.get("status", JobStatus.QUEUED))
        return cls(**values)


@dataclass(frozen=True)
class Job:
    """A submission with its current state, its place in the queue and whether a cancel was asked."""

    submission: Submission
    state: JobState
    position: int | None  # 1-based place among queued jobs; None once it left the queue
    cancel_requested: bool

    @property
    def job_id(self) -> str:
        return self.submission.job_id

    @property
    def status(self) -> JobStatus:
        return self.state.status

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.submission),
            **self.state.to_dict(),
            "position": self.position,
            "cancel_requested": self.cancel_requested,
            "fraction": round(self.state.fraction, 4),
        }


def new_job_id() -> str:
    """Sortable and unique enough across processes: time, then random hex."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def atomic_write_json(path: Path, payload: Any) -> None:
    """Write-then-rename, so a reader never sees half a file (even if the writer is killed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class JobBook:
    """Read and write the queue folder. Every method is safe to call from any process."""

    def __init__(self, runs_root: str | Path) -> None:
        self.runs_root = Path(runs_root)
        self.root = self.runs_root / JOBS_FOLDER

    def _ensure(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root

    def submission_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.json"

    def state_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.state.json"

    def cancel_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.cancel"

    # ------------------------------------------------------------ writing
    def add(self, submission: Submission) -> None:
        self._ensure()
        atomic_write_json(self.state_path(submission.job_id), JobState(updated_at=time.time()).to_dict())
        atomic_write_json(self.submission_path(submission.job_id), asdict(submission))

    def write_state(self, job_id: str, state: JobState) -> None:
        self._ensure()
        atomic_write_json(self.state_path(job_id), replace(state, updated_at=time.time()).to_dict())

    def request_cancel(self, job_id: str, requester: str) -> None:
        self._ensure()
        atomic_write_json(self.cancel_path(job_id), {"requester": requester, "at": time.time()})

    # ------------------------------------------------------------ reading
    def submission(self, job_id: str) -> Submission:
        data = _read_json(self.submission_path(job_id))
        if data is None:
            raise JobNotFoundError(f"no job {job_id!r} in {self.root}")
        return Submission(**data)

    def state(self, job_id: str) -> JobState:
        data = _read_json(self.state_path(job_id))
        return JobState.from_dict(data) if data else JobState()

    def cancel_requested(self, job_id: str) -> bool:
        return self.cancel_path(job_id).exists()

    def submissions(self) -> list[Submission]:
        if not self.root.is_dir():
            return []
        subs = []
        for path in self.root.glob("*.json"):
            if not _JOB_ID.match(path.stem):
                continue
            data = _read_json(path)
            if data is not None:
                subs.append(Submission(**data))
        return sorted(subs, key=lambda s: (s.created_ns, s.job_id))

    def jobs(self) -> list[Job]:
        """Every job, oldest first, with queue positions counted among the queued ones."""
        out: list[Job] = []
        position = 0
        for sub in self.submissions():
            state = self.state(sub.job_id)
            pos = None
            if state.status == JobStatus.QUEUED:
                position += 1
                pos = position
            out.append(Job(sub, state, pos, self.cancel_requested(sub.job_id)))
        return out

    def get(self, job_id: str) -> Job:
        for job in self.jobs():
            if job.job_id == job_id:
                return job
        raise JobNotFoundError(f"no job {job_id!r} in {self.root}")

    def iter_queued(self) -> Iterator[Job]:
        return (job for job in self.jobs() if job.status == JobStatus.QUEUED)


def this_host() -> str:
    return socket.gethostname()
