"""The engine process: a Ray driver that owns the queue's scheduling, detached from the web server.

`python -m fmnist_core.engine.daemon RUNS_ROOT` is started by the app or CLI on the first submission
(in its own session, so a Streamlit restart leaves it running). It starts a private Ray instance
(every port on 127.0.0.1, Ray's token authentication on, no dashboard, no Ray Client or job
submission server) or connects to FMNIST_RAY_ADDRESS / RAY_ADDRESS, then every POLL_S:
cancels queued jobs that were asked to, notes finished or crashed workers, and starts the oldest
queued jobs while fewer than `parallel` run. One engine per runs folder (an flock on engine.lock).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .records import ENGINE_INFO as INFO_NAME
from .records import ENGINE_LOCK as LOCK_NAME
from .records import WORKER_STATUSES, JobBook, JobKind, JobStatus, atomic_write_json
from .settings import EngineSettings

POLL_S = 0.5
LOGGER = logging.getLogger("fmnist_engine")


def _train_task(runs_root: str, job_id: str) -> str:
    """The Ray task body: import lazily so the engine process never loads TensorFlow."""
    import ray

    from .worker import run_job

    return run_job(runs_root, job_id, node_id=ray.get_runtime_context().get_node_id())


def _sweep_task(runs_root: str, job_id: str, job_options: dict[str, Any], concurrency: int) -> str:
    """The Ray task of a sweep entry: Ray Tune runs its trials (engine/sweep_runner.py)."""
    import ray

    from .sweep_runner import run_sweep_job

    return run_sweep_job(runs_root, job_id, job_options, concurrency,
                         node_id=ray.get_runtime_context().get_node_id())


class Scheduler:
    """Starts queued jobs in order as slots free up and records what became of each worker."""

    def __init__(self, settings: EngineSettings, book: JobBook) -> None:
        import ray

        self.ray = ray
        self.settings = settings
        self.book = book
        self.running: dict[str, Any] = {}  # job id -> ObjectRef of its task
        self.task = ray.remote(max_retries=0)(_train_task)
        self.sweep_task = ray.remote(max_retries=0)(_sweep_task)

    def job_resources(self) -> dict[str, Any]:
        cluster = self.ray.cluster_resources()
        cpus = int(os.environ.get("FMNIST_ENGINE_JOB_CPUS", "0") or 0)
        if not cpus:
            cpus = max(1, int(cluster.get("CPU", 1)) // self.settings.parallel) if self.settings.local else 1
        options: dict[str, Any] = {"num_cpus": cpus, "scheduling_strategy": "SPREAD"}
        if cluster.get("GPU", 0) >= 1:
            options["num_gpus"] = 1  # a job asks for a GPU when the cluster has one
        return options

    def recover(self) -> None:
        """Jobs a previous engine had started cannot be running any more: their workers died with it."""
        for job in self.book.jobs():
            if job.status in WORKER_STATUSES:
                self.book.write_state(job.job_id, replace(
                    job.state, status=JobStatus.INTERRUPTED, finished_at=time.time(),
                    error="the engine that ran this job stopped; resume its run to continue"))

    def step(self) -> None:
        jobs = self.book.jobs()
        for job in jobs:
            if job.status == JobStatus.QUEUED and job.cancel_requested:
                self.book.write_state(job.job_id, replace(job.state, status=JobStatus.CANCELLED,
                                                          finished_at=time.time()))
        if self.running:
            ready, _ = self.ray.wait(list(self.running.values()), num_returns=len(self.running), timeout=0)
            for job_id, ref in list(self.running.items()):
                if ref in ready:
                    del self.running[job_id]
                    self._finished(job_id, ref)
        free = self.settings.parallel - len(self.running)
        if free <= 0:
            return
        for job in self.book.iter_queued():
            if free <= 0:
                break
            if job.cancel_requested:
                continue
            self.book.write_state(job.job_id, replace(job.state, status=JobStatus.STARTING))
            if job.submission.kind == JobKind.SWEEP:  # coordinates only: its trials ask for the CPUs
                ref = self.sweep_task.options(num_cpus=0).remote(str(self.book.runs_root), job.job_id,
                                                                 self.job_resources(), self.settings.parallel)
            else:
                ref = self.task.options(**self.job_resources()).remote(str(self.book.runs_root), job.job_id)
            self.running[job.job_id] = ref
            free -= 1

    def _finished(self, job_id: str, ref: Any) -> None:
        try:
            self.ray.get(ref)
            return  # the worker wrote the final state itself
        except self.ray.exceptions.RayError as exc:
            error = f"{type(exc).__name__}: the worker process ended before the job did"
            LOGGER.warning("job %s: %s", job_id, exc)
        state = self.book.state(job_id)
        if state.status.active:
            self.book.write_state(job_id, replace(state, status=JobStatus.INTERRUPTED, error=error,
                                                  finished_at=time.time()))


def _start_ray(settings: EngineSettings) -> str:
    if settings.local:
        # Every Ray port on 127.0.0.1: with clusters off, Ray takes the loopback address as the node's
        # (read when ray is first imported, hence before the import). address="local": a fresh private
        # instance even when some other Ray cluster runs on this machine.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    if settings.local:
        ray.init(address="local", num_cpus=settings.cpus or os.cpu_count() or 1, include_dashboard=False,
                 namespace="fmnist", configure_logging=False, log_to_driver=False)
    else:
        ray.init(address=settings.address, namespace="fmnist", configure_logging=False, log_to_driver=False)
    return ray.get_runtime_context().gcs_address


def serve(runs_root: Path) -> int:
    settings = EngineSettings.from_env(runs_root)
    book = JobBook(runs_root)
    book.root.mkdir(parents=True, exist_ok=True)
    lock = open(book.root / LOCK_NAME, "w")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        LOGGER.info("another engine already serves %s", runs_root)
        return 0
    stopping = False

    def on_term(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    info: dict[str, Any] = {"pid": os.getpid(), "sid": os.getsid(0), "started_at": time.time(),
                            "address": None, "mode": "local" if settings.local else "cluster",
                            "parallel": settings.parallel}
    atomic_write_json(book.root / INFO_NAME, {**info, "heartbeat_at": time.time(), "ready": False})
    started = time.perf_counter()
    info["address"] = _start_ray(settings)
    info["ray_start_seconds"] = round(time.perf_counter() - started, 2)
    scheduler = Scheduler(settings, book)
    scheduler.recover()
    LOGGER.info("engine up at %s in %.1fs", info["address"], info["ray_start_seconds"])
    try:
        while not stopping:
            scheduler.step()
            atomic_write_json(book.root / INFO_NAME, {**info, "heartbeat_at": time.time(), "ready": True,
                                                      "running": sorted(scheduler.running)})
            time.sleep(POLL_S)
    finally:
        import ray

        ray.shutdown()
        for job_id in scheduler.running:
            state = book.state(job_id)
            if state.status.active:
                book.write_state(job_id, replace(state, status=JobStatus.INTERRUPTED, finished_at=time.time(),
                                                 error="the engine was shut down while this job ran"))
        atomic_write_json(book.root / INFO_NAME, {**info, "heartbeat_at": time.time(), "ready": False,
                                                  "stopped_at": time.time()})
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m fmnist_core.engine.daemon RUNS_ROOT", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return serve(Path(args[0]).resolve())


if __name__ == "__main__":
    sys.exit(main())
