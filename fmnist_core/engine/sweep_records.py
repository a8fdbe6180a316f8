"""A sweep on disk and as the app sees it: one file per trial, read together with the sweep's queue entry.

A sweep is one queue entry (kind `sweep`; its job id is the sweep id) whose submission holds the
SweepSpec with every planned trial. While it runs, each trial's Ray Tune actor writes
`<runs>/sweeps/<sweep id>/trial-<n>.json` (one writer per file, like the queue: the trial's own actor).
A trial without a file has not started; a trial file that still says `running` after its sweep ended
belongs to a trial whose process died (interrupted). Every trial's run is an ordinary run in the runs
folder; when the trial ends its run.json gains a `sweep` entry (`SweepTag`), so the run itself says which
sweep and trial it came from. No Ray, no Streamlit.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..runs import RunInfo
from .records import Job, JobBook, JobKind, JobNotFoundError, JobStatus, atomic_write_json
from .sweep_space import SweepSpec, sweep_setting

SWEEPS_FOLDER = "sweeps"
RUN_META_KEY = "sweep"  # the key of a trial run's SweepTag in its run.json
_TRIAL_FILE = re.compile(r"^trial-(\d+)\.json$")


class TrialStatus(StrEnum):
    PENDING = "pending"  # planned, not started yet
    RUNNING = "running"
    COMPLETED = "completed"  # trained every epoch
    EARLY_STOPPED = "early stopped"  # ASHA stopped it between epochs; its run is kept (stopped)
    STOPPED = "stopped"  # the sweep was cancelled while it trained; its run is kept (stopped)
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its process died (derived: the sweep ended while the file said running)
    NOT_RUN = "not run"  # the sweep ended before it started (derived)

    @property
    def final(self) -> bool:
        return self not in {TrialStatus.PENDING, TrialStatus.RUNNING}


@dataclass(frozen=True)
class TrialRecord:
    """What a trial's actor reports: written when it starts, at each epoch's end and when it ends."""

    index: int
    status: TrialStatus = TrialStatus.RUNNING
    run_id: str | None = None
    epochs_done: int = 0
    total_epochs: int = 0
    val_accuracy: float | None = None  # after its last completed epoch
    best_val_accuracy: float | None = None
    val_curve: list[float] = field(default_factory=list)  # validation accuracy per epoch (what ASHA saw)
    test_accuracy: float | None = None
    train_seconds: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    pid: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["status"] = TrialStatus(known.get("status", TrialStatus.RUNNING))
        return cls(**known)


@dataclass(frozen=True)
class SweepTag:
    """A trial run's membership, stored in its run.json under RUN_META_KEY."""

    sweep_id: str
    trial: int  # 0-based index in the sweep's plan
    hyperparameters: dict[str, Any]
    trial_status: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sweep_tag(run: RunInfo) -> SweepTag | None:
    """The sweep a run was trained by, or None for an ordinary run (typed reader of run.json's entry)."""
    data = run.meta.get(RUN_META_KEY)
    if not isinstance(data, dict) or "sweep_id" not in data:
        return None
    return SweepTag(str(data["sweep_id"]), int(data.get("trial", 0)), dict(data.get("hyperparameters") or {}),
                    str(data.get("trial_status", "")))


class SweepBook:
    """The trial files of every sweep of a runs folder."""

    def __init__(self, runs_root: str | Path) -> None:
        self.runs_root = Path(runs_root)
        self.root = self.runs_root / SWEEPS_FOLDER

    def folder(self, sweep_id: str) -> Path:
        return self.root / sweep_id

    def trial_path(self, sweep_id: str, index: int) -> Path:
        return self.folder(sweep_id) / f"trial-{index}.json"

    def write_trial(self, sweep_id: str, record: TrialRecord) -> None:
        self.folder(sweep_id).mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.trial_path(sweep_id, record.index), record.to_dict())

    def trials(self, sweep_id: str) -> dict[int, TrialRecord]:
        folder = self.folder(sweep_id)
        found: dict[int, TrialRecord] = {}
        if not folder.is_dir():
            return found
        for path in folder.iterdir():
            match = _TRIAL_FILE.match(path.name)
            if not match:
                continue
            try:
                found[int(match.group(1))] = TrialRecord.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue  # never half-written (atomic), but a foreign file must not break the page
        return found


@dataclass(frozen=True)
class TrialRow:
    """One line of a sweep's table: the planned hyperparameters with what became of the trial."""

    index: int
    hyperparameters: dict[str, Any]
    record: TrialRecord

    @property
    def status(self) -> TrialStatus:
        return self.record.status

    @property
    def number(self) -> int:
        return self.index + 1

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.number, **self.hyperparameters, **{k: v for k, v in self.record.to_dict().items()
                                                               if k not in {"index", "pid"}}}


@dataclass(frozen=True)
class SweepReport:
    """A sweep as the page and `sweeps` show it: its queue entry, its space and every trial."""

    job: Job
    spec: SweepSpec
    rows: tuple[TrialRow, ...]

    @property
    def sweep_id(self) -> str:
        return self.job.job_id

    @property
    def status(self) -> JobStatus:
        return self.job.status

    @property
    def finished_trials(self) -> int:
        return sum(1 for row in self.rows if row.status.final)

    @property
    def best(self) -> TrialRow | None:
        """The trial with the best validation accuracy (the sweep's metric) among those that have one."""
        scored = [row for row in self.rows if row.record.best_val_accuracy is not None]
        return max(scored, key=lambda row: row.record.best_val_accuracy or 0.0) if scored else None

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {"sweep_id": self.sweep_id, "status": str(self.status), "submitter": self.job.submission.submitter,
                "summary": self.job.submission.summary, "asha": self.spec.asha, "varying": list(self.spec.varying),
                "trials": [row.to_dict() for row in self.rows], "finished_trials": self.finished_trials,
                "best_trial": best.number if best else None, "best_run_id": best.record.run_id if best else None}


def trial_rows(spec: SweepSpec, records: dict[int, TrialRecord], sweep_status: JobStatus) -> tuple[TrialRow, ...]:
    """Every planned trial with its record; statuses made honest once the sweep has ended (pure)."""
    rows = []
    for index, hyperparameters in enumerate(spec.trials):
        record = records.get(index) or TrialRecord(index, TrialStatus.PENDING)
        if sweep_status.final and record.status == TrialStatus.PENDING:
            record = replace(record, status=TrialStatus.NOT_RUN)
        elif sweep_status.final and record.status == TrialStatus.RUNNING:
            record = replace(record, status=TrialStatus.INTERRUPTED)
        rows.append(TrialRow(index, dict(hyperparameters), record))
    return tuple(rows)


def report_of(job: Job, book: SweepBook) -> SweepReport:
    if job.submission.kind != JobKind.SWEEP or not job.submission.sweep:
        raise JobNotFoundError(f"job {job.job_id} is not a sweep")
    spec = SweepSpec.from_dict(job.submission.sweep)
    return SweepReport(job, spec, trial_rows(spec, book.trials(job.job_id), job.status))


def list_sweeps(runs_root: str | Path) -> list[SweepReport]:
    """Every sweep of the runs folder, newest first."""
    book = SweepBook(runs_root)
    jobs = [job for job in JobBook(runs_root).jobs() if job.submission.kind == JobKind.SWEEP]
    return [report_of(job, book) for job in reversed(jobs)]


def get_sweep(runs_root: str | Path, sweep_id: str) -> SweepReport:
    return report_of(JobBook(runs_root).get(sweep_id), SweepBook(runs_root))


def sweep_progress(job: Job, runs_root: str | Path) -> tuple[float, str] | None:
    """For the queue's progress bar: the share of a running sweep's trials that ended, in words; None for a
    training job."""
    if job.submission.kind != JobKind.SWEEP or not job.submission.sweep:
        return None
    report = report_of(job, SweepBook(runs_root))
    total = len(report.rows)
    running = [row.number for row in report.rows if row.status == TrialStatus.RUNNING]
    text = f"Sweep: {report.finished_trials} of {total} trials finished"
    if running:
        text += f", trial {running[0]} training"
    return report.finished_trials / max(1, total), text + " (details on the Sweeps page)"


def hyperparameter_label(name: str) -> str:
    """The schema's label of a swept hyperparameter (table headers and chart axes)."""
    return sweep_setting(name).label


__all__ = [
    "RUN_META_KEY", "SWEEPS_FOLDER", "SweepBook", "SweepReport", "SweepTag", "TrialRecord", "TrialRow", "TrialStatus",
    "get_sweep", "hyperparameter_label", "list_sweeps", "report_of", "sweep_progress", "sweep_tag", "trial_rows",
]
