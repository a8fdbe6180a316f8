"""fmnist_core.engine without Ray: the on-disk queue, positions, limits, cancel rights, admin password,
the one-line config and the CLI's view of the queue."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import report_optimiser_config

from fmnist_core import cli
from fmnist_core.engine import (
    CancelNotAllowedError,
    Engine,
    EngineSettings,
    JobError,
    JobNotFoundError,
    JobStatus,
    QueueLimitError,
    config_summary,
)
from fmnist_core.engine.admin import check_password, configured_password
from fmnist_core.engine.display import jobs_table, progress_bar, where
from fmnist_core.engine.records import JobBook, JobState
from fmnist_core.errors import ConfigError

CONFIG = report_optimiser_config(epochs=1, batch_size=32, train_limit=500)


@pytest.fixture
def engine(tmp_path):
    # start_engine=False everywhere here: these tests never start Ray.
    return Engine(EngineSettings(runs_root=tmp_path, queue_limit=2))


def test_submissions_queue_in_order_with_positions(engine):
    ids = [engine.submit(CONFIG, who, start_engine=False).job_id for who in ("ann", "bob", "cy")]
    jobs = engine.jobs()
    assert [j.job_id for j in jobs] == ids
    assert [j.position for j in jobs] == [1, 2, 3]
    assert all(j.status == JobStatus.QUEUED and j.status.active for j in jobs)
    # The first one leaves the queue: the others move up.
    engine.book.write_state(ids[0], replace(jobs[0].state, status=JobStatus.RUNNING))
    assert [j.position for j in engine.jobs()] == [None, 1, 2]
    assert engine.get(ids[1]).submission.summary == config_summary(CONFIG)


def test_the_queue_is_files_another_process_can_read(engine, tmp_path):
    job = engine.submit(CONFIG, "ann", start_engine=False)
    again = Engine(EngineSettings(runs_root=tmp_path)).get(job.job_id)  # a "restarted server"
    assert again.submission == job.submission and again.status == JobStatus.QUEUED
    on_disk = json.loads((tmp_path / "jobs" / f"{job.job_id}.json").read_text())
    assert on_disk["submitter"] == "ann" and on_disk["config"]["train_limit"] == 500
    # Only job files count as jobs (the engine's own files live in the same folder).
    (tmp_path / "jobs" / "engine.json").write_text(json.dumps({"pid": 1, "address": "x"}))
    assert [j.job_id for j in engine.jobs()] == [job.job_id]


def test_per_submitter_limit_counts_unfinished_jobs_only(engine):
    first = engine.submit(CONFIG, "ann", start_engine=False)
    engine.submit(CONFIG, "ann", start_engine=False)
    with pytest.raises(QueueLimitError, match="limit is 2"):
        engine.submit(CONFIG, "ann", start_engine=False)
    engine.submit(CONFIG, "bob", start_engine=False)  # others are not affected
    engine.book.write_state(first.job_id, JobState(status=JobStatus.COMPLETED))
    engine.submit(CONFIG, "ann", start_engine=False)  # a finished job frees a place
    with pytest.raises(JobError):
        engine.submit(CONFIG, "  ", start_engine=False)


def test_cancel_rights_and_queued_cancel_without_an_engine(engine):
    job = engine.submit(CONFIG, "ann", start_engine=False)
    with pytest.raises(CancelNotAllowedError):
        engine.cancel(job.job_id, "bob")
    assert engine.get(job.job_id).status == JobStatus.QUEUED and not engine.get(job.job_id).cancel_requested
    # No engine serves the folder: the queued job is cancelled at once.
    done = engine.cancel(job.job_id, "ann")
    assert done.status == JobStatus.CANCELLED and done.cancel_requested and done.position is None
    with pytest.raises(JobError, match="already ended"):
        engine.cancel(job.job_id, "ann")
    other = engine.submit(CONFIG, "bob", start_engine=False)
    assert engine.cancel(other.job_id, "ann", admin=True).status == JobStatus.CANCELLED
    with pytest.raises(JobNotFoundError):
        engine.get("20260101-000000-abcdef")


def test_admin_password_is_off_by_default_and_compared_exactly(tmp_path):
    assert configured_password(path=tmp_path / "missing.toml") is None
    assert configured_password({}) is None
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('jobs_admin_password = "s3cret"\n')
    assert configured_password(path=secrets) == "s3cret"
    assert check_password("s3cret", "s3cret")
    assert not check_password("s3cre", "s3cret") and not check_password("", "s3cret")
    assert not check_password("anything", None)  # off: nothing opens it


def test_settings_from_env(monkeypatch, tmp_path):
    for name in ("FMNIST_RAY_ADDRESS", "RAY_ADDRESS", "FMNIST_ENGINE_PARALLEL", "FMNIST_QUEUE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    settings = EngineSettings.from_env(tmp_path)
    assert settings.local and settings.parallel == 1 and settings.queue_limit == 3
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    monkeypatch.setenv("FMNIST_ENGINE_PARALLEL", "2")
    settings = EngineSettings.from_env(tmp_path)
    assert settings.address == "10.0.0.5:6379" and not settings.local and settings.parallel == 2
    monkeypatch.setenv("FMNIST_RAY_ADDRESS", "127.0.0.1:6380")  # ours wins over Ray's own
    assert EngineSettings.from_env(tmp_path).address == "127.0.0.1:6380"
    monkeypatch.setenv("FMNIST_QUEUE_LIMIT", "zero")
    with pytest.raises(ConfigError, match="FMNIST_QUEUE_LIMIT"):
        EngineSettings.from_env(tmp_path)


def test_status_without_an_engine_says_so(engine):
    status = engine.status()
    assert not status.alive and "first submission" in status.message
    (engine.book.root).mkdir(parents=True, exist_ok=True)
    (engine.book.root / "engine.json").write_text(json.dumps({"pid": 999999, "address": "127.0.0.1:1"}))
    status = engine.status()  # it was there once, its lock is free: it died
    assert not status.alive and "stopped" in status.message


def test_text_views(engine):
    assert "no jobs" in jobs_table([])
    job = engine.submit(CONFIG, "ann", start_engine=False)
    assert where(job) == "queued #1"
    running = replace(job, position=None, state=JobState(status=JobStatus.RUNNING, epoch=1, total_epochs=2,
                                                          batch=8, steps_per_epoch=16, eta_seconds=12.0,
                                                          metrics={"loss": 1.5, "accuracy": 0.5}))
    assert where(running).startswith("running  25%")
    bar = progress_bar(running)
    assert "8/16" in bar and "loss 1.5000" in bar and "12s left" in bar
    table = jobs_table([running])
    assert job.job_id in table and "ann" in table and "seed_cnn" in table


def test_cli_commands_are_registered_and_submit_parses_like_train(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path))
    parser = cli.build_parser()
    args = parser.parse_args(["submit", "--preset", "seed", "--epochs", "2", "--train-limit", "300", "--as", "ann"])
    train_args = parser.parse_args(["train", "--preset", "seed", "--epochs", "2", "--train-limit", "300"])
    assert cli.config_from_args(args) == cli.config_from_args(train_args)
    for command in ("jobs", "cancel", "watch"):
        assert parser.parse_args([command] + (["x"] if command != "jobs" else [])).handler
    # jobs --json on an empty folder, and cancel of someone else's job: a clear error, exit 2.
    assert cli.main(["jobs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["jobs"] == []
    job = Engine(EngineSettings(runs_root=tmp_path)).submit(CONFIG, "ann", start_engine=False)
    assert cli.main(["cancel", job.job_id, "--as", "bob"]) == 2
    assert "only they or an admin" in capsys.readouterr().err
    assert cli.main(["cancel", job.job_id, "--as", "ann"]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert cli.main(["jobs", "--all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["jobs"][0]["status"] == "cancelled"


def test_watch_follows_a_job_to_its_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(tmp_path))
    engine = Engine(EngineSettings(runs_root=tmp_path))
    job = engine.submit(CONFIG, "ann", start_engine=False)
    engine.book.write_state(job.job_id, JobState(status=JobStatus.RUNNING, run_id="r1", epoch=1, total_epochs=1,
                                                 batch=4, steps_per_epoch=16))

    def finish_later():
        import time

        time.sleep(0.5)
        engine.book.write_state(job.job_id, JobState(status=JobStatus.COMPLETED, run_id="r1", test_accuracy=0.75))

    import threading

    threading.Thread(target=finish_later).start()
    assert cli.main(["watch", job.job_id, "--interval", "0.1"]) == 0
    captured = capsys.readouterr()
    assert "4/16" in captured.err  # the progress bar was drawn while it ran
    assert f"{job.job_id} completed run r1 test accuracy 0.7500" in captured.out
    engine.book.write_state(job.job_id, JobState(status=JobStatus.FAILED, error="boom"))
    assert cli.main(["watch", job.job_id]) == 1 and "boom" in capsys.readouterr().out


class _FakeRay:
    def __init__(self, resources):
        self.resources = resources

    def cluster_resources(self):
        return self.resources


@pytest.mark.parametrize(("settings", "resources", "expected"), [
    (dict(parallel=1), {"CPU": 2.0}, {"num_cpus": 2}),  # local, one at a time: the whole machine
    (dict(parallel=2), {"CPU": 2.0}, {"num_cpus": 1}),
    (dict(parallel=1, address="10.0.0.5:6379"), {"CPU": 64.0}, {"num_cpus": 1}),  # cluster default
    (dict(parallel=1, address="10.0.0.5:6379"), {"CPU": 64.0, "GPU": 4.0}, {"num_cpus": 1, "num_gpus": 1}),
])
def test_a_job_asks_for_a_gpu_when_the_cluster_has_one(tmp_path, monkeypatch, settings, resources, expected):
    pytest.importorskip("ray")
    from fmnist_core.engine.daemon import Scheduler

    monkeypatch.delenv("FMNIST_ENGINE_JOB_CPUS", raising=False)
    scheduler = Scheduler(EngineSettings(runs_root=tmp_path, **settings), JobBook(tmp_path))
    scheduler.ray = _FakeRay(resources)
    options = scheduler.job_resources()
    assert {k: v for k, v in options.items() if k != "scheduling_strategy"} == expected
    assert options["scheduling_strategy"] == "SPREAD"


def _batch(epoch: int, index: int, seconds: float, steps: int = 10):
    from fmnist_core.training import BatchProgress

    return BatchProgress(epoch=epoch, batch=index, steps_per_epoch=steps, loss=1.0, accuracy=0.5,
                         elapsed_seconds=seconds, eta_seconds=None, running_loss=2.0 - seconds / 10,
                         running_accuracy=seconds / 10)


def test_worker_state_file_carries_the_live_batch_curve(tmp_path):
    """The worker adds a point of running loss/accuracy every CURVE_POINT_S and at each epoch's last
    batch to the job's state file, where the queue panel reads it for the live curve."""
    from fmnist_core.engine.worker import CURVE_POINT_S, ProgressWriter

    book = JobBook(tmp_path)
    writer = ProgressWriter(book, "20260101-000000-abcdef", JobState(status=JobStatus.RUNNING))
    for index, seconds in enumerate((0.2, 0.4, CURVE_POINT_S + 0.3, CURVE_POINT_S + 0.5), start=1):
        writer(_batch(1, index, seconds))
    writer(_batch(1, 10, CURVE_POINT_S + 0.6))  # the epoch's last batch: always a point
    writer.update(True)  # flush as the next epoch end would
    curve = book.state("20260101-000000-abcdef").batch_curve
    assert curve["epoch"] == [0.1, 0.3, 1.0]
    assert curve["loss"] == pytest.approx([1.98, 2.0 - (CURVE_POINT_S + 0.3) / 10, 2.0 - (CURVE_POINT_S + 0.6) / 10])
    assert curve["accuracy"] == pytest.approx([0.02, (CURVE_POINT_S + 0.3) / 10, (CURVE_POINT_S + 0.6) / 10])


def test_worker_state_shows_photo_renders_before_the_first_batch(tmp_path):
    """While a run renders its photo renders, the job's progress is the renders' share, with time left."""
    from fmnist_core.engine.worker import ProgressWriter
    from fmnist_core.training import RenderProgress

    book = JobBook(tmp_path)
    job_id = "20260101-000000-abcdef"
    writer = ProgressWriter(book, job_id, JobState(status=JobStatus.RUNNING))
    writer(RenderProgress("run-1", 0, 1000, 0.0, already_done=200))
    writer(RenderProgress("run-1", 600, 1000, 20.0, already_done=200))
    writer.update(True)
    state = book.state(job_id)
    assert (state.renders_done, state.renders_total, state.run_id) == (600, 1000, "run-1")
    assert state.fraction == pytest.approx(0.6)
    assert state.eta_seconds == pytest.approx(20.0)  # 400 left at 400 made in 20 s
    later = JobState(status=JobStatus.RUNNING, renders_done=1000, renders_total=1000, epoch=1, total_epochs=2,
                     batch=5, steps_per_epoch=10)
    assert later.fraction == pytest.approx(0.25)  # once training runs, the bar follows the batches


def test_live_curve_stays_bounded_and_keeps_its_newest_point():
    from fmnist_core.engine.worker import MAX_CURVE_POINTS, add_curve_point

    curve: dict[str, list[float]] = {}
    steps = 1000
    for index in range(1, 3 * MAX_CURVE_POINTS):
        curve = add_curve_point(curve, _batch(1, index, 0.0, steps=steps))
        assert len(curve["epoch"]) <= MAX_CURVE_POINTS
    assert curve["epoch"][-1] == pytest.approx((3 * MAX_CURVE_POINTS - 1) / steps)  # the newest point survives
    assert curve["epoch"] == sorted(curve["epoch"]) and len(curve["epoch"]) > MAX_CURVE_POINTS // 2
    assert len(curve["loss"]) == len(curve["accuracy"]) == len(curve["epoch"])
