"""The engine with real processes: a private local Ray instance, started by a separate "server"
process that submits and exits; queue order, progress, cancel, a worker killed mid-epoch, and the
engine itself dying. Slow (Ray start-up and small real trainings): `pytest -m slow tests/test_engine_ray.py`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import report_optimiser_config

from fmnist_core.constants import PROJECT_DIR
from fmnist_core.engine import CancelNotAllowedError, Engine, EngineSettings, JobStatus
from fmnist_core.runs import RunStore

pytestmark = pytest.mark.slow

SHORT = report_optimiser_config(epochs=1, batch_size=32, train_limit=500, validation="holdout", seed=3)
# 2,000 images in batches of 32: 63 batches an epoch, many epochs: certainly running when cancelled.
LONG = report_optimiser_config(epochs=30, batch_size=32, train_limit=2000, validation="holdout", seed=4)
# Three epochs of 188 batches (a few seconds each even on a fast, quiet CPU, so the test sees the second
# epoch running before it ends): killed in the second, resumed to the third.
KILLED = report_optimiser_config(epochs=3, batch_size=32, train_limit=6000, validation="holdout", seed=5)
TIMEOUT = 420.0


def wait_until(predicate, engine: Engine, job_id: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    job = engine.get(job_id)
    while time.monotonic() < deadline:
        job = engine.get(job_id)
        if predicate(job):
            return job
        time.sleep(0.1)
    pytest.fail(f"job {job_id} did not reach the condition in {timeout}s: {job.to_dict()}\n"
                + (engine.book.root / "engine.log").read_text()[-3000:])


def ray_listening_addresses(sid: int) -> list[str]:
    """Local addresses of TCP sockets listened on by processes of the engine's session (its Ray
    head processes and workers)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    addresses = []
    for line in out.splitlines():
        pids = [int(part.split("=")[1].rstrip(")").split(",")[0]) for part in line.split("pid=")[1:]
                for part in ["pid=" + part]]
        for pid in pids:
            try:
                if os.getsid(pid) == sid:
                    addresses.append(line.split()[3])
            except ProcessLookupError:
                pass
    return addresses


def _session_alive(sid: int) -> bool:
    """Any live (non-zombie) process left in the session (ps -g selects by session)."""
    out = subprocess.run(["ps", "-o", "stat=", "-g", str(sid)], capture_output=True, text=True).stdout
    return any(not line.strip().startswith("Z") for line in out.splitlines() if line.strip())


@pytest.fixture(scope="module")
def served(tmp_path_factory, real_data_folder):
    """An engine started by another process (the first "server"), which then exited."""
    runs = tmp_path_factory.mktemp("engine-runs")
    env = {**os.environ, "FMNIST_DATA_DIR": str(real_data_folder), "FMNIST_RUNS_DIR": str(runs)}
    for name in ("FMNIST_RAY_ADDRESS", "RAY_ADDRESS"):
        env.pop(name, None)
    server = subprocess.run(
        [sys.executable, "-m", "fmnist_core", "submit", "--preset", "seed", "--no-augmentation", "--epochs", "1",
         "--batch-size", "32", "--train-limit", "500", "--as", "old-server"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert server.returncode == 0, server.stderr
    job_id = server.stdout.strip().splitlines()[-1]
    os.environ["FMNIST_DATA_DIR"] = str(real_data_folder)  # the engine inherits nothing from us below
    engine = Engine(EngineSettings(runs_root=Path(runs)))
    yield engine, job_id
    assert engine.shutdown(timeout=90), "the engine did not stop"


def test_a_job_submitted_by_a_server_that_exited_runs_and_its_run_reaches_the_runs_folder(served):
    engine, job_id = served
    status = engine.status()
    assert status.alive and status.pid and status.pid != os.getpid()
    job = wait_until(lambda j: not j.status.active, engine, job_id)
    assert job.status == JobStatus.COMPLETED, job.to_dict()
    assert job.submission.submitter == "old-server"
    run = RunStore(engine.settings.runs_root).get(job.state.run_id)
    assert run.status == "completed" and run.has_model
    assert run.test_accuracy == pytest.approx(job.state.test_accuracy) and run.test_accuracy > 0.2
    assert job.state.pid != status.pid  # trained in a Ray worker, not in the engine process
    # Private instance: every socket of the engine's Ray processes listens on the loopback only.
    addresses = ray_listening_addresses(os.getsid(status.pid))
    assert addresses, "found no listening Ray sockets to check"
    assert all(a.startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:")) for a in addresses), addresses
    # No dashboard / job-submission HTTP server (8265) and no Ray Client server (10001) at all.
    assert not [a for a in addresses if a.rsplit(":", 1)[1] in {"8265", "10001"}], addresses


def test_jobs_start_in_order_one_at_a_time_with_progress(served):
    engine, _ = served
    jobs = [engine.submit(SHORT, who) for who in ("ann", "bob", "cy")]
    positions = [job.position for job in jobs]
    assert [p for p in positions if p is not None] == sorted(p for p in positions if p is not None)
    seen_progress = False
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        current = [engine.get(job.job_id) for job in jobs]
        running = [j for j in current if j.status in {JobStatus.STARTING, JobStatus.RUNNING}]
        assert len(running) <= 1, [j.to_dict() for j in running]  # one at a time by default
        seen_progress |= any(0.0 < j.state.fraction < 1.0 for j in current)
        if all(not j.status.active for j in current):
            break
        time.sleep(0.1)
    assert [j.status for j in current] == [JobStatus.COMPLETED] * 3, [j.to_dict() for j in current]
    assert seen_progress
    starts = [j.state.started_at for j in current]
    ends = [j.state.finished_at for j in current]
    assert starts == sorted(starts) and all(ends[i] <= starts[i + 1] for i in range(2))


def test_cancel_queued_and_running_jobs_rights_kept(served):
    engine, _ = served
    long_job = engine.submit(LONG, "ann")
    queued = engine.submit(SHORT, "ann")
    with pytest.raises(CancelNotAllowedError):
        engine.cancel(queued.job_id, "bob")
    engine.cancel(queued.job_id, "ann")
    assert wait_until(lambda j: not j.status.active, engine, queued.job_id).status == JobStatus.CANCELLED
    running = wait_until(lambda j: j.status == JobStatus.RUNNING and j.state.batch > 0, engine, long_job.job_id)
    with pytest.raises(CancelNotAllowedError):
        engine.cancel(long_job.job_id, "bob")
    engine.cancel(long_job.job_id, "ann")
    done = wait_until(lambda j: not j.status.active, engine, long_job.job_id)
    assert done.status == JobStatus.STOPPED, done.to_dict()
    run = RunStore(engine.settings.runs_root).get(running.state.run_id)
    assert run.status == "stopped" and run.epochs_completed < LONG.epochs
    assert engine.get(queued.job_id).state.run_id is None  # a cancelled queued job never trained


def test_a_worker_killed_mid_epoch_leaves_an_interrupted_resumable_run_and_the_queue_goes_on(served):
    engine, _ = served
    store = RunStore(engine.settings.runs_root)
    before = {run.run_id: run.status for run in store.list_runs()}
    victim = engine.submit(KILLED, "ann")
    bystander = engine.submit(SHORT, "bob")
    job = wait_until(lambda j: j.status == JobStatus.RUNNING and j.state.epoch >= 2 and j.state.batch > 0
                     and j.state.run_id and store.get(j.state.run_id).epochs_completed >= 1, engine, victim.job_id)
    assert engine.get(bystander.job_id).status == JobStatus.QUEUED
    os.kill(job.state.pid, signal.SIGKILL)
    dead = wait_until(lambda j: not j.status.active, engine, victim.job_id)
    assert dead.status == JobStatus.INTERRUPTED and "worker" in (dead.state.error or ""), dead.to_dict()
    run = store.get(job.state.run_id)
    assert run.status == "interrupted" and run.resumable and run.epochs_completed == 1
    assert wait_until(lambda j: not j.status.active, engine, bystander.job_id).status == JobStatus.COMPLETED
    assert {rid: store.get(rid).status for rid in before} == before  # other runs untouched
    again = engine.submit(KILLED, "ann", resume_run_id=run.run_id)
    resumed = wait_until(lambda j: not j.status.active, engine, again.job_id)
    assert resumed.status == JobStatus.COMPLETED and resumed.state.run_id == run.run_id, resumed.to_dict()
    assert store.get(run.run_id).status == "completed" and store.get(run.run_id).epochs_completed == KILLED.epochs


def test_when_the_engine_dies_the_app_is_told_queued_jobs_wait_and_the_next_submission_starts_a_new_one(served):
    engine, _ = served
    store = RunStore(engine.settings.runs_root)
    running = engine.submit(LONG, "dee")
    wait_until(lambda j: j.status == JobStatus.RUNNING and j.state.epoch >= 2 and j.state.batch > 0
               and store.get(j.state.run_id).epochs_completed >= 1, engine, running.job_id)
    old = engine.status()
    sid = os.getsid(old.pid)
    os.kill(old.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while engine.status().alive and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not engine.status().alive and "stopped" in engine.status().message
    waiting = engine.submit(SHORT, "eve", start_engine=False)  # queued while no engine runs
    assert engine.get(waiting.job_id).status == JobStatus.QUEUED
    latest = engine.submit(SHORT, "fay")  # the next submission starts a new engine
    new = engine.status()
    assert new.alive and new.pid != old.pid
    # Nothing of the dead engine is left: its worker died with it, and the new engine's start
    # removed the Ray agents that can outlive a SIGKILLed driver.
    time.sleep(1.0)  # SIGKILL is delivered at once, but let the kernel finish the exits
    assert not _session_alive(sid), subprocess.run(["ps", "-o", "pid,stat,cmd", "-g", str(sid)],
                                                   capture_output=True, text=True).stdout
    for job in (waiting, latest):
        assert wait_until(lambda j: not j.status.active, engine, job.job_id).status == JobStatus.COMPLETED
    orphan = engine.get(running.job_id)
    assert orphan.status == JobStatus.INTERRUPTED, orphan.to_dict()
    run = store.get(orphan.state.run_id)
    assert run.status == "interrupted" and run.resumable
