"""The sweep's search space (fmnist_core.engine.sweep_space), its records and the sweep command's parsing:
no Ray, no TensorFlow, milliseconds."""

from __future__ import annotations

import json

import pytest

from fmnist_core.augmentation import NO_AUGMENTATION
from fmnist_core.cli import main
from fmnist_core.config import TrainConfig, preset
from fmnist_core.engine import CancelNotAllowedError, Engine, EngineSettings, JobStatus, QueueLimitError
from fmnist_core.engine.records import JobKind, JobState
from fmnist_core.engine.sweep_records import (
    SweepBook,
    TrialRecord,
    TrialStatus,
    get_sweep,
    list_sweeps,
    sweep_tag,
    trial_rows,
)
from fmnist_core.engine.sweep_space import (
    FULL_AUGMENTATION,
    MAX_TRIALS,
    DimensionKind,
    SweepSpaceError,
    SweepSpec,
    augmentation_for_strength,
    make_sweep,
    parse_dimension,
    sweep_setting,
    trial_config,
)
from fmnist_core.errors import ConfigError
from fmnist_core.runs import RunInfo

BASE = preset("default").with_changes(train_limit=1500)


# ---------------------------------------------------------------- parsing one hyperparameter
def test_values_ranges_and_single_values_parse_with_the_settings_types():
    lr = parse_dimension("learning_rate", "0.001, 0.003,0.001")
    assert lr.kind == DimensionKind.VALUES and lr.values == (0.001, 0.003)  # duplicates dropped
    assert parse_dimension("batch_size", "64,128").values == (64, 128)
    assert all(isinstance(v, int) for v in parse_dimension("epochs", "2,4").values)
    rng = parse_dimension("learning_rate", "1e-4:1e-2")
    assert (rng.kind, rng.low, rng.high, rng.log) == (DimensionKind.RANGE, 1e-4, 1e-2, True)
    assert not parse_dimension("augmentation_strength", "0:1").log
    fixed = parse_dimension("epochs", "2")
    assert fixed.values == (2,) and not fixed.varies
    assert parse_dimension("architecture", "fast_cnn,seed_cnn").values == ("fast_cnn", "seed_cnn")


@pytest.mark.parametrize(("name", "text", "says"), [
    ("learning_rate", "0.001,abc", "not a number"),
    ("learning_rate", "5", "between"),  # above the schema's maximum (1.0)
    ("learning_rate", "0.01:0.001", "empty"),
    ("learning_rate", "0.001:0.01:0.1", "low:high"),
    ("batch_size", "64,", "empty value"),
    ("batch_size", "64.5", "whole number"),
    ("epochs", "0", "between"),
    ("augmentation_strength", "1.5", "between"),
    ("architecture", "no_such_net", "architecture"),
    ("architecture", "fast_cnn:seed_cnn", "list of values"),
    ("weight_decay", "0.1,0.2", "cannot be swept"),
    ("epochs", "  ", "give a value"),
])
def test_impossible_dimensions_raise_a_typed_error_naming_the_setting(name, text, says):
    with pytest.raises(SweepSpaceError) as info:
        parse_dimension(name, text)
    assert says in str(info.value)
    assert isinstance(info.value, ConfigError)  # the app shows ConfigErrors as a bad setting


def test_the_labels_and_ranges_come_from_the_settings_schema():
    from fmnist_core.settings import setting_named

    assert sweep_setting("learning_rate") == setting_named(TrainConfig, "learning_rate")
    assert sweep_setting("augmentation_strength").info.maximum == 1.0


# ---------------------------------------------------------------- the whole space
def test_a_grid_of_lists_runs_every_combination_in_order():
    spec = make_sweep(BASE, {"learning_rate": "0.001,0.003", "batch_size": "64,128", "epochs": "2"})
    assert spec.grid and len(spec.trials) == 4
    assert [(t["learning_rate"], t["batch_size"]) for t in spec.trials] == [
        (0.001, 64), (0.001, 128), (0.003, 64), (0.003, 128)]
    assert all(t["epochs"] == 2 for t in spec.trials)
    assert spec.varying == ("learning_rate", "batch_size")
    assert "sweep of 4 trials" in spec.summary() and "1,500 images" in spec.summary()


def test_fewer_trials_than_the_grid_draws_distinct_points_reproducibly():
    texts = {"learning_rate": "0.001,0.003,0.01", "batch_size": "32,64,128"}
    one = make_sweep(BASE, texts, trials=4, seed=7)
    again = make_sweep(BASE, texts, trials=4, seed=7)
    assert one.trials == again.trials and not one.grid
    assert len({json.dumps(t, sort_keys=True) for t in one.trials}) == 4
    with pytest.raises(SweepSpaceError, match="only 9 distinct"):
        make_sweep(BASE, texts, trials=10)


def test_ranges_are_drawn_inside_their_bounds_on_the_right_scale():
    spec = make_sweep(BASE, {"learning_rate": "0.0001:0.01", "batch_size": "32:256",
                             "augmentation_strength": "0:1"}, trials=MAX_TRIALS, seed=1)
    lrs = [t["learning_rate"] for t in spec.trials]
    assert all(1e-4 <= v <= 1e-2 for v in lrs)
    # log scale: about half the draws fall below the geometric middle (1e-3); uniform would put ~9% there
    assert 8 <= sum(v < 1e-3 for v in lrs) <= 24
    assert all(isinstance(t["batch_size"], int) and 32 <= t["batch_size"] <= 256 for t in spec.trials)
    assert all(0 <= t["augmentation_strength"] <= 1 for t in spec.trials)
    with pytest.raises(SweepSpaceError, match="needs a number of trials"):
        make_sweep(BASE, {"learning_rate": "0.0001:0.01"})


@pytest.mark.parametrize(("texts", "options", "says"), [
    ({"epochs": "2"}, {}, "nothing varies"),
    ({}, {}, "nothing varies"),
    ({"learning_rate": "0.001,0.003"}, {"trials": 0}, "between 1 and"),
    ({"learning_rate": "0.0001:0.01"}, {"trials": MAX_TRIALS + 1}, "between 1 and"),
    ({"learning_rate": "0.001,0.003", "epochs": "1"}, {"asha": True}, "at least 2 epochs"),
    ({"learning_rate": "0.001,0.003", "epochs": "2"}, {"asha": True, "trials": 1}, "at least 2 trials"),
    ({"batch_size": "64,4096"}, {}, "smaller than one batch"),  # 4,096 > the 1,500-image subset
    ({"learning_rate": ",".join(f"{0.001 * i:g}" for i in range(1, 7)), "batch_size": "16,32,64,128,256,512"}, {},
     "more than"),
    ({"momentum": "0.9"}, {}, "cannot sweep"),
])
def test_impossible_spaces_are_refused_before_anything_is_queued(texts, options, says):
    with pytest.raises(SweepSpaceError, match=says):
        make_sweep(BASE, texts, **options)


def test_each_trial_config_is_the_base_with_its_hyperparameters():
    spec = make_sweep(BASE, {"learning_rate": "0.001,0.003", "augmentation_strength": "0,1",
                             "architecture": "seed_cnn"})
    config = spec.config_of(3)
    assert (config.learning_rate, config.architecture, config.train_limit) == (0.003, "seed_cnn", 1500)
    assert config.augmentation == FULL_AUGMENTATION
    assert spec.config_of(0).augmentation == NO_AUGMENTATION
    assert config.optimizer == BASE.optimizer and config.epochs == BASE.epochs
    assert SweepSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_augmentation_strength_scales_every_amount():
    half = augmentation_for_strength(0.5)
    assert half.rotation_deg == FULL_AUGMENTATION.rotation_deg / 2 and half.erasing == 0.25 and half.horizontal_flip
    assert augmentation_for_strength(0.0) == NO_AUGMENTATION
    with pytest.raises(ConfigError):
        augmentation_for_strength(2.0)
    assert trial_config(BASE, {"augmentation_strength": 1.0}).augmentation == FULL_AUGMENTATION


# ---------------------------------------------------------------- the queue entry and the records
@pytest.fixture
def engine(tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_QUEUE_LIMIT", "2")
    return Engine(EngineSettings.from_env(tmp_path))


def test_a_sweep_is_one_queue_entry_that_counts_once_against_the_limit(engine):
    spec = make_sweep(BASE, {"learning_rate": "0.001,0.003,0.01", "epochs": "2"})
    job = engine.submit(spec.base_config(), "ann", sweep=spec, start_engine=False)
    assert job.submission.kind == JobKind.SWEEP and job.submission.sweep_id == job.job_id
    assert engine.get(job.job_id).submission.kind == JobKind.SWEEP  # read back from disk, typed
    assert job.position == 1 and "sweep of 3 trials" in job.submission.summary
    engine.submit(BASE, "ann", start_engine=False)
    with pytest.raises(QueueLimitError):
        engine.submit(spec.base_config(), "ann", sweep=spec, start_engine=False)
    report = get_sweep(engine.settings.runs_root, job.job_id)
    assert [row.status for row in report.rows] == [TrialStatus.PENDING] * 3
    assert [r.sweep_id for r in list_sweeps(engine.settings.runs_root)] == [job.job_id]


def test_only_the_submitter_or_an_admin_cancels_a_sweep(engine):
    spec = make_sweep(BASE, {"learning_rate": "0.001,0.003", "epochs": "2"})
    job = engine.submit(spec.base_config(), "ann", sweep=spec, start_engine=False)
    with pytest.raises(CancelNotAllowedError):
        engine.cancel(job.job_id, "bob")
    assert not engine.book.cancel_requested(job.job_id)
    assert engine.cancel(job.job_id, "bob", admin=True).status == JobStatus.CANCELLED


def test_trial_statuses_are_made_honest_once_the_sweep_ended(engine, tmp_path):
    spec = make_sweep(BASE, {"learning_rate": "0.001,0.003,0.01", "epochs": "2"})
    job = engine.submit(spec.base_config(), "ann", sweep=spec, start_engine=False)
    book = SweepBook(tmp_path)
    book.write_trial(job.job_id, TrialRecord(0, TrialStatus.COMPLETED, run_id="r0", epochs_done=2, total_epochs=2,
                                             val_accuracy=0.8, best_val_accuracy=0.81, test_accuracy=0.79))
    book.write_trial(job.job_id, TrialRecord(1, TrialStatus.RUNNING, run_id="r1", epochs_done=1))
    rows = trial_rows(spec, book.trials(job.job_id), JobStatus.RUNNING)
    assert [r.status for r in rows] == [TrialStatus.COMPLETED, TrialStatus.RUNNING, TrialStatus.PENDING]
    rows = trial_rows(spec, book.trials(job.job_id), JobStatus.INTERRUPTED)
    assert [r.status for r in rows] == [TrialStatus.COMPLETED, TrialStatus.INTERRUPTED, TrialStatus.NOT_RUN]
    engine.book.write_state(job.job_id, JobState(status=JobStatus.RUNNING))
    report = get_sweep(tmp_path, job.job_id)
    assert report.best.number == 1 and report.finished_trials == 1
    assert report.to_dict()["best_run_id"] == "r0"


def test_a_run_says_which_sweep_trained_it(tmp_path):
    run = RunInfo("r", tmp_path, {"sweep": {"sweep_id": "s", "trial": 2, "hyperparameters": {"epochs": 2}}})
    tag = sweep_tag(run)
    assert (tag.sweep_id, tag.trial, tag.hyperparameters) == ("s", 2, {"epochs": 2})
    assert sweep_tag(RunInfo("plain", tmp_path, {})) is None


# ---------------------------------------------------------------- the command line
def test_sweep_command_queues_prints_the_id_and_lists_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Engine, "ensure_running", lambda self: self.status())  # the queue only: no Ray here
    code = main(["--runs-dir", str(tmp_path), "sweep", "--lr", "0.001,0.003", "--batch-size", "64", "--epochs", "2",
                 "--arch", "fast_cnn", "--asha", "--train-limit", "1500", "--as", "cli-test", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["trials"]) == 2
    engine = Engine(EngineSettings(runs_root=tmp_path))
    sweep_id = out["sweep_id"]
    assert engine.get(sweep_id).submission.kind == JobKind.SWEEP
    assert main(["--runs-dir", str(tmp_path), "sweeps", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["sweep_id"] for s in listed] == [sweep_id] and listed[0]["asha"]
    assert main(["--runs-dir", str(tmp_path), "sweeps", sweep_id]) == 0
    table = capsys.readouterr().out
    assert "pending" in table and "0.003" in table and "cli-test" in table
    assert main(["--runs-dir", str(tmp_path), "cancel", sweep_id, "--as", "cli-test"]) == 0
    assert engine.get(sweep_id).status == JobStatus.CANCELLED  # no engine: a queued entry is cancelled at once
    assert [row.status for row in get_sweep(tmp_path, sweep_id).rows] == [TrialStatus.NOT_RUN] * 2


def test_sweep_command_refuses_an_impossible_space_with_a_message(tmp_path, capsys):
    code = main(["--runs-dir", str(tmp_path), "sweep", "--lr", "0.01:0.001", "--trials", "3"])
    assert code == 2 and "empty" in capsys.readouterr().err
    assert not (tmp_path / "jobs").exists() or not list((tmp_path / "jobs").glob("*.json"))
