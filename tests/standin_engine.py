"""A stand-in for the engine process in AppTests: the daemon's scheduling without Ray.

Starting Ray costs 15-30 s on the 2-core test machine, too much for every AppTest of the Training
page. This stand-in does what `fmnist_core.engine.daemon.Scheduler.step` does with one slot (cancel
queued jobs that were asked to, start the oldest queued job, mark a worker that died as interrupted),
and runs each job's real worker code (`fmnist_core.engine.worker.run_job`) in its own Python process,
so training still never happens in the process that runs the pages. tests/test_engine_ray.py and the
browser test run the real Ray engine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from fmnist_core.engine.records import JobBook, JobStatus

ROOT = Path(__file__).resolve().parents[1]
WORKER = "import sys; from fmnist_core.engine.worker import run_job; run_job(sys.argv[1], sys.argv[2])"
POLL_S = 0.2


class StandInEngine:
    """One slot, jobs in submission order, one worker process per job; started by Engine.ensure_running."""

    def __init__(self, runs_root: Path) -> None:
        self.book = JobBook(runs_root)
        self.worker_pids: dict[str, int] = {}  # job id -> pid of the process that trained it
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._process: subprocess.Popen | None = None
        self._job_id: str | None = None

    def ensure_running(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="standin-engine", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._closed.wait(POLL_S):
            self.step()

    def step(self) -> None:
        for job in self.book.jobs():
            if job.status == JobStatus.QUEUED and job.cancel_requested:
                self.book.write_state(job.job_id, replace(job.state, status=JobStatus.CANCELLED,
                                                          finished_at=time.time()))
        if self._process is not None:
            if self._process.poll() is None:
                return
            state = self.book.state(self._job_id)
            if state.status.active:  # the worker died without writing its final state
                self.book.write_state(self._job_id, replace(state, status=JobStatus.INTERRUPTED,
                                                            error="the worker process ended before the job did"))
            self._process = self._job_id = None
        for job in self.book.iter_queued():
            if job.cancel_requested:
                continue
            self.book.write_state(job.job_id, replace(job.state, status=JobStatus.STARTING))
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
            self._process = subprocess.Popen(  # our own worker, fixed arguments
                [sys.executable, "-c", WORKER, str(self.book.runs_root), job.job_id], cwd=str(ROOT), env=env,
                stdin=subprocess.DEVNULL)
            self._job_id = job.job_id
            self.worker_pids[job.job_id] = self._process.pid
            return

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
