"""The engine as the app and the CLI see it: submit, list, cancel, watch. Never imports Ray.

The web process only writes and reads files in <runs>/jobs/ and, when no engine serves that
folder, starts one (`python -m fmnist_core.engine.daemon`) in its own session so that it outlives
the web server. Training therefore never runs in the web process.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..config import TrainConfig
from ..constants import PROJECT_DIR, RUNS_DIR_ENV
from .records import ENGINE_INFO as INFO_NAME
from .records import ENGINE_LOCK as LOCK_NAME
from .records import (
    CancelNotAllowedError,
    Job,
    JobBook,
    JobError,
    JobKind,
    JobStatus,
    QueueLimitError,
    Submission,
    new_job_id,
)
from .settings import EngineSettings
from .sweep_space import SweepSpec

ENGINE_LOG = "engine.log"


def config_summary(config: TrainConfig) -> str:
    """The configuration in one line, for queue tables and `jobs`."""
    aug = "augmented" if config.augmentation.enabled else "no aug"
    limit = f" · {config.train_limit:,} images" if config.train_limit else ""
    return (f"{config.architecture} · {config.epochs} ep · batch {config.batch_size} · {config.optimizer} "
            f"lr {config.learning_rate:g} · {config.schedule} · {aug}{limit}")


@dataclass(frozen=True)
class EngineStatus:
    alive: bool
    ready: bool
    pid: int | None
    address: str | None
    mode: str
    message: str
    ray_start_seconds: float | None = None


def _session_members(sid: int) -> list[int]:
    """Live processes of a session (the engine starts its own: Ray puts each worker in its own
    process group, but they stay in the engine's session)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _reap_leftovers(sid: int | None) -> list[int]:
    """Kill what a dead engine left in its session: when its driver is SIGKILLed, Ray's agents can
    outlive it, and a training worker runs on for a few seconds. Only Ray processes of that
    session, identified by their command."""
    if not sid:
        return []
    killed = []
    for pid in _session_members(int(sid)):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"ray" in command and pid != os.getpid():
            try:
                os.kill(pid, 9)
                killed.append(pid)
            except ProcessLookupError:
                pass
    return killed


class Engine:
    """One runs folder's queue. Cheap to create; safe to share between sessions and processes."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings.from_env()
        self.book = JobBook(self.settings.runs_root)

    # ------------------------------------------------------------ the engine process
    def _info(self) -> dict:
        try:
            return json.loads((self.book.root / INFO_NAME).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _lock_held(self) -> bool:
        path = self.book.root / LOCK_NAME
        if not path.exists():
            return False
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    def status(self) -> EngineStatus:
        info = self._info()
        alive = self._lock_held()
        mode = info.get("mode", "local" if self.settings.local else "cluster")
        if alive:
            ready = bool(info.get("ready"))
            where = info.get("address") or "starting"
            message = f"Training engine running ({mode} Ray at {where})" if ready else "Training engine starting…"
        elif info:
            ready = False
            message = "The training engine stopped; a new one starts with the next submission."
        else:
            ready = False
            message = "No training engine yet; one starts with the first submission."
        return EngineStatus(alive, alive and ready, info.get("pid"), info.get("address"), mode, message,
                            info.get("ray_start_seconds"))

    def ensure_running(self) -> EngineStatus:
        """Start the engine process for this runs folder unless one already serves it."""
        if self._lock_held():
            return self.status()
        _reap_leftovers(self._info().get("sid"))
        self.book.root.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_DIR), env.get("PYTHONPATH", "")) if p)
        env[RUNS_DIR_ENV] = str(self.settings.runs_root)
        if self.settings.address:
            env["FMNIST_RAY_ADDRESS"] = self.settings.address
        log = open(self.book.root / ENGINE_LOG, "ab")  # noqa: SIM115 - handed to the child
        try:
            subprocess.Popen(  # our own module, fixed arguments
                [sys.executable, "-m", "fmnist_core.engine.daemon", str(self.settings.runs_root)],
                cwd=str(PROJECT_DIR), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,  # outlives the web server; its own process group
            )
        finally:
            log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self._lock_held():
            time.sleep(0.1)
        return self.status()

    def shutdown(self, timeout: float = 60.0) -> bool:
        """Stop the engine (its running jobs end as interrupted). True once it has gone."""
        info = self._info()
        pid = info.get("pid")
        if not pid or not self._lock_held():
            return True
        try:
            os.kill(int(pid), 15)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._lock_held():
                return True
            time.sleep(0.2)
        return False

    # ------------------------------------------------------------ the queue
    def jobs(self) -> list[Job]:
        return self.book.jobs()

    def get(self, job_id: str) -> Job:
        return self.book.get(job_id)

    def unfinished(self, submitter: str) -> list[Job]:
        return [job for job in self.jobs() if job.submission.submitter == submitter and job.status.active]

    def submit(self, config: TrainConfig, submitter: str, *, resume_run_id: str | None = None,
               sweep_id: str | None = None, start_engine: bool = True, sweep: SweepSpec | None = None) -> Job:
        """Queue a job and make sure an engine will run it; QueueLimitError past the per-submitter limit.

        With `sweep`, the entry is a whole sweep (engine/sweep_runner.py): it counts once against the limit,
        its id is also the sweep's id, and `config` is the sweep's base configuration."""
        if not submitter.strip():
            raise JobError("a job needs a submitter label")
        waiting = self.unfinished(submitter)
        if len(waiting) >= self.settings.queue_limit:
            raise QueueLimitError(
                f"{submitter} already has {len(waiting)} unfinished jobs (the limit is {self.settings.queue_limit}); "
                "wait for one to finish or cancel one")
        job_id = new_job_id()
        summary = ("resume " + resume_run_id) if resume_run_id else config_summary(config)
        if sweep is not None:
            summary, sweep_id = sweep.summary(), job_id
        self.book.add(Submission(job_id=job_id, submitter=submitter, config=config.to_dict(),
                                 created_ns=time.time_ns(), summary=summary, resume_run_id=resume_run_id,
                                 sweep_id=sweep_id, kind=JobKind.SWEEP if sweep is not None else JobKind.TRAIN,
                                 sweep=sweep.to_dict() if sweep is not None else None))
        if start_engine:
            self.ensure_running()
        return self.get(job_id)

    def cancel(self, job_id: str, requester: str, *, admin: bool = False) -> Job:
        """Cancel a queued job, or stop a running one after its current batch (its run is kept as stopped)."""
        job = self.get(job_id)
        if not admin and job.submission.submitter != requester:
            raise CancelNotAllowedError(f"job {job_id} was submitted by {job.submission.submitter}; "
                                        "only they or an admin can cancel it")
        if not job.status.active:
            raise JobError(f"job {job_id} has already ended ({job.status})")
        self.book.request_cancel(job_id, requester)
        if job.status == JobStatus.QUEUED and not self._lock_held():
            # No engine to see the request: cancelling a queued job needs nobody else.
            from dataclasses import replace

            self.book.write_state(job_id, replace(job.state, status=JobStatus.CANCELLED, finished_at=time.time()))
        return self.get(job_id)

    def follow(self, job_id: str, poll_s: float = 0.5, timeout: float | None = None) -> Iterator[Job]:
        """Yield the job every poll_s until it ends (the last one yielded is final) or timeout passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            yield job
            if not job.status.active:
                return
            if deadline is not None and time.monotonic() > deadline:
                return
            time.sleep(poll_s)

    def wait(self, job_id: str, timeout: float = 600.0) -> Job:
        last = None
        for last in self.follow(job_id, poll_s=0.25, timeout=timeout):  # noqa: B007 - the last one is the answer
            pass
        assert last is not None
        return last
