"""fmnist_core.runs hardening: run ids that cannot leave the runs folder, atomic writes,
checksummed safe-mode loading, no model loading outside RunStore, and runs that survive SIGKILL
(mid-epoch and mid-save) and resume to completion."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fmnist_core import runs as runs_module
from fmnist_core.errors import (
    InvalidRunIdError,
    ModelIntegrityError,
    RunError,
    RunNotFoundError,
    UnsafeModelError,
)
from fmnist_core.runs import (
    CHECKPOINT_FILE,
    MODEL_FILE,
    RUN_FILE,
    RunStatus,
    RunStore,
    atomic_save_model,
    atomic_write_bytes,
    atomic_write_json,
    sha256_file,
    validate_run_id,
)

REPO_DIR = Path(__file__).resolve().parents[1]


def tiny_keras_model(with_lambda: bool = False):
    import keras

    layers = [keras.Input(shape=(4,))]
    if with_lambda:
        layers.append(keras.layers.Lambda(lambda x: x * 2))
    layers.append(keras.layers.Dense(2))
    return keras.Sequential(layers)


def write_run(store: RunStore, run_id: str, meta: dict) -> Path:
    path = store.root / run_id
    path.mkdir(parents=True, exist_ok=True)
    (path / RUN_FILE).write_text(json.dumps(meta))
    return path


def save_model_run(store: RunStore, run_id: str, model) -> Path:
    """A completed run folder holding `model`, with its correct checksum recorded."""
    path = store.root / run_id
    path.mkdir(parents=True)
    checksum = atomic_save_model(model, path / MODEL_FILE)
    write_run(store, run_id, {"status": "completed", "model_sha256": checksum, "config": {"epochs": 1}})
    return path


# ------------------------------------------------------------------ run ids
BAD_IDS = ["../x", "/etc/passwd", "", ".", "..", "a/b", "a\\b", "with space", "nul\x00byte", ".hidden",
           "-rf", "x" * 81, "tab\there", "new\nline", "ümlaut"]


@pytest.mark.parametrize("run_id", BAD_IDS)
def test_run_id_validation_refuses_paths_and_odd_names(run_id, tmp_store):
    with pytest.raises(InvalidRunIdError):
        validate_run_id(run_id)
    for call in (tmp_store.run_path, tmp_store.get, tmp_store.load_model):
        with pytest.raises(InvalidRunIdError):
            call(run_id)


@pytest.mark.parametrize("run_id", [None, 3, b"abc"])
def test_run_id_must_be_a_string(run_id):
    with pytest.raises(InvalidRunIdError):
        validate_run_id(run_id)


def test_good_run_ids(tmp_store):
    for run_id in ("20250101-120000-seed_cnn-ab12", "default", "a", "v1.2_final-3"):
        assert validate_run_id(run_id) == run_id
        assert tmp_store.run_path(run_id).parent == tmp_store.root
    with pytest.raises(RunNotFoundError):
        tmp_store.get("20250101-120000-seed_cnn-ab12")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=90))
def test_any_accepted_id_stays_inside_the_runs_folder(run_id):
    root = Path("/srv/runs")
    try:
        validate_run_id(run_id)
    except InvalidRunIdError:
        return
    path = RunStore(root, pretrained_dir=None).run_path(run_id)
    assert "/" not in run_id and "\x00" not in run_id and run_id not in {".", ".."}
    assert os.path.normpath(path).startswith(str(root) + os.sep)
    assert Path(os.path.normpath(path)).parent == root


# ------------------------------------------------------------------ atomic writes
def test_atomic_writes_leave_no_temp_files(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    atomic_write_json(tmp_path / "a.json", {"x": 2})  # replacing an existing file
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    checksum = atomic_save_model(tiny_keras_model(), tmp_path / MODEL_FILE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin", MODEL_FILE]
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 2}
    assert checksum == sha256_file(tmp_path / MODEL_FILE)
    assert checksum == hashlib.sha256((tmp_path / MODEL_FILE).read_bytes()).hexdigest()


def test_failed_atomic_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "run.json"
    atomic_write_json(target, {"status": "completed"})

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs_module.os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_json(target, {"status": "half-written"})
    with pytest.raises(OSError):
        atomic_save_model(tiny_keras_model(), tmp_path / MODEL_FILE)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
    assert json.loads(target.read_text()) == {"status": "completed"}


# ------------------------------------------------------------------ listing
def test_list_runs_newest_first_skipping_junk(tmp_path):
    pretrained = tmp_path / "pretrained"
    store = RunStore(tmp_path / "runs", pretrained_dir=pretrained)
    ids = ["20240101-090000-seed_cnn-aaaa", "20250301-100000-fast_cnn-bbbb", "20250301-100001-seed_cnn-cccc"]
    for run_id in ids:
        write_run(store, run_id, {"status": "completed", "started_at": run_id[:15]})
    (store.root / "broken-run").mkdir()
    (store.root / "broken-run" / RUN_FILE).write_text("{not json")  # unreadable: skipped
    (store.root / "no-meta").mkdir()  # no run.json: skipped
    (store.root / ".training.lock").write_text("")  # a file, not a run
    (store.root / "has space").mkdir()  # not a valid id: skipped
    write_run(store, "has space", {"status": "completed"})
    (pretrained / "default").mkdir(parents=True)
    (pretrained / "default" / RUN_FILE).write_text(json.dumps({"status": "completed"}))

    listed = [run.run_id for run in store.list_runs()]
    assert listed == [*sorted(ids, reverse=True), "default"]  # newest first, shipped default last
    assert store.get("default").path == pretrained / "default"


def test_status_of_a_running_run_with_a_dead_pid_is_interrupted(tmp_store):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    write_run(tmp_store, "dead", {"status": "running", "pid": child.pid})
    write_run(tmp_store, "alive", {"status": "running", "pid": os.getpid()})
    assert tmp_store.get("dead").status == RunStatus.INTERRUPTED
    assert tmp_store.get("alive").status == RunStatus.RUNNING


# ------------------------------------------------------------------ verified, safe loading
def test_load_model_verifies_the_checksum(tmp_store):
    import numpy as np

    model = tiny_keras_model()
    path = save_model_run(tmp_store, "good", model)
    loaded = tmp_store.load_model("good")
    x = np.ones((1, 4), np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)

    data = bytearray((path / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0x01  # tamper one byte
    (path / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="checksum"):
        tmp_store.load_model("good")


def test_truncated_model_file_is_a_clear_integrity_error(tmp_store):
    path = save_model_run(tmp_store, "cut", tiny_keras_model())
    data = (path / MODEL_FILE).read_bytes()
    (path / MODEL_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelIntegrityError, match="checksum"):
        tmp_store.load_model("cut")
    # Even with a checksum that matches the truncated bytes, loading fails with the typed error.
    meta = json.loads((path / RUN_FILE).read_text())
    meta["model_sha256"] = sha256_file(path / MODEL_FILE)
    (path / RUN_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelIntegrityError, match="cannot be read"):
        tmp_store.load_model("cut")


def test_lambda_layer_is_refused_even_with_a_correct_checksum(tmp_store):
    path = save_model_run(tmp_store, "lambda", tiny_keras_model(with_lambda=True))
    assert json.loads((path / RUN_FILE).read_text())["model_sha256"] == sha256_file(path / MODEL_FILE)
    with pytest.raises(UnsafeModelError, match="safe mode"):
        tmp_store.load_model("lambda")


def test_missing_or_unrecorded_model_is_not_loaded(tmp_store):
    with pytest.raises(RunNotFoundError):
        tmp_store.load_model("never-trained")
    path = save_model_run(tmp_store, "unrecorded", tiny_keras_model())
    meta = json.loads((path / RUN_FILE).read_text())
    del meta["model_sha256"]  # e.g. killed between writing the file and recording its hash
    (path / RUN_FILE).write_text(json.dumps(meta))
    with pytest.raises(RunNotFoundError, match="no complete saved model"):
        tmp_store.load_model("unrecorded")
    assert not tmp_store.get("unrecorded").has_model


# ------------------------------------------------------------------ no loading outside RunStore
def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(_dotted(node.func) + "()")
    return ".".join(reversed(parts))


def direct_model_loads(source: str) -> list[str]:
    """Ways a file could deserialise a model without RunStore's checks."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        top_module = (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else ""
        if top_module in {"keras", "tensorflow", "tf_keras"}:
            problems += [f"imports {a.name} from {node.module}" for a in node.names
                         if a.name in {"load_model", "load_weights"}]
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            last = name.rsplit(".", 1)[-1]
            owner = name.rsplit(".", 1)[0] if "." in name else ""
            keras_load = last == "load_model" and any(
                p in owner.split(".") for p in ("keras", "tf", "saving", "models"))
            other_load = last in {"load_verified_model", "load_weights", "enable_unsafe_deserialization"}
            saved_model_load = last == "load" and "saved_model" in owner
            if keras_load or other_load or saved_model_load:
                problems.append(f"calls {name}(")
            for keyword in node.keywords:
                literal_true = isinstance(keyword.value, ast.Constant) and keyword.value.value is True
                if keyword.arg == "safe_mode" and not literal_true:
                    problems.append(f"passes safe_mode other than True to {name}(")
        elif isinstance(node, ast.Name) and node.id == "load_model":
            problems.append("uses a bare load_model name")
    return problems


def test_the_checker_catches_direct_loads():
    bad = (
        "import keras\nfrom keras.saving import load_model\n"
        "m = keras.saving.load_model('x.keras')\nm = keras.models.load_model(p, safe_mode=False)\n"
        "m = tf.keras.models.load_model(p)\nload_verified_model(p, h, label='x')\n"
        "keras.config.enable_unsafe_deserialization()\nm = tf.saved_model.load(p)\n"
    )
    assert len(direct_model_loads(bad)) >= 7
    checked = "m = store.load_model(run_id)\nm = run_store().load_model(r, allow_checkpoint=True)\n"
    assert direct_model_loads(checked) == []


def test_models_are_loaded_only_through_runstore():
    """The app, the CLI, the engine and the benchmarks load models only with RunStore.load_model
    (checksum + safe mode); fmnist_core/runs.py is the one place that deserialises a file."""
    allowed = {REPO_DIR / "fmnist_core" / "runs.py"}
    skip_dirs = {"tests", ".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist"}
    offenders = {}
    checked = 0
    for path in sorted(REPO_DIR.rglob("*.py")):
        rel = path.relative_to(REPO_DIR)
        if path in allowed or any(part in skip_dirs or part.startswith(".") for part in rel.parts[:-1]):
            continue
        checked += 1
        problems = direct_model_loads(path.read_text(encoding="utf-8"))
        if problems:
            offenders[str(rel)] = problems
    assert checked >= 10  # the engine alone has more files than that
    assert offenders == {}
    runs_source = (REPO_DIR / "fmnist_core" / "runs.py").read_text()
    assert runs_source.count("keras.saving.load_model(") == 1 and "safe_mode=True" in runs_source


# ------------------------------------------------------------------ SIGKILL and resume
CHILD = r"""
import json, os, pathlib, sys, time
mode, runs_dir, ready, config_json = sys.argv[1:5]
from fmnist_core.config import TrainConfig
from fmnist_core.runs import RunStore
from fmnist_core.training import BatchProgress, train

def hang(note):
    pathlib.Path(ready).write_text(note)
    time.sleep(600)

listener = None
if mode == "mid-epoch":
    def listener(event):
        if isinstance(event, BatchProgress) and event.epoch == 2 and event.batch >= 3:
            hang(f"epoch 2, batch {event.batch}")
else:  # mid-save: stall after model.keras is fully written to its temp file, before the rename
    real_replace = os.replace
    def replace(src, dst):
        if pathlib.Path(dst).name == "model.keras":
            hang(str(src))
        return real_replace(src, dst)
    os.replace = replace

train(TrainConfig(**json.loads(config_json)), store=RunStore(runs_dir, pretrained_dir=None),
      listener=listener, report_every_s=0, command="killed child")
"""

CHILD_CONFIG = dict(
    architecture="seed_cnn", batch_size=50, learning_rate=1e-3, optimizer="adam", schedule="constant",
    warmup_epochs=0.0, weight_decay=0.0, train_limit=1000, seed=11,
)


@pytest.fixture(scope="module")
def kill_store(tmp_path_factory, trained_run):
    """A runs folder that already holds a completed run (a copy of the session's trained run)."""
    import shutil

    store, run_id = trained_run
    root = tmp_path_factory.mktemp("kill-runs")
    shutil.copytree(store.root / run_id, root / run_id)
    return RunStore(root, pretrained_dir=None)


def train_and_kill(store: RunStore, mode: str, epochs: int, tmp_path: Path) -> str:
    """Train in a child process, SIGKILL it at the marked moment, return the killed run's id."""
    before = {run.run_id for run in store.list_runs()}
    ready = tmp_path / f"{mode}.ready"
    log = tmp_path / f"{mode}.log"
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR), "TF_CPP_MIN_LOG_LEVEL": "2"}
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, mode, str(store.root), str(ready),
             json.dumps({**CHILD_CONFIG, "epochs": epochs})],
            cwd=REPO_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 300
            while not ready.exists():
                if child.poll() is not None:
                    pytest.fail(f"child exited ({child.returncode}) before the kill point:\n{log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"child never reached the kill point:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(60)  # reap it, so its pid is really gone
    assert child.returncode == -signal.SIGKILL
    (killed,) = {run.run_id for run in store.list_runs()} - before
    return killed


def complete_runs(store: RunStore) -> dict[str, str]:
    return {run.run_id: run.meta["model_sha256"] for run in store.list_runs() if run.has_model}


def assert_earlier_runs_intact(store: RunStore, earlier: dict[str, str]) -> None:
    listed = {run.run_id: run for run in store.list_runs()}
    for run_id, checksum in earlier.items():
        assert run_id in listed and listed[run_id].status == "completed"
        assert listed[run_id].meta["model_sha256"] == checksum
        assert store.load_model(run_id).output_shape == (None, 10)


def assert_interrupted_without_model(store: RunStore, run_id: str) -> None:
    run = store.get(run_id)
    assert run.meta["status"] == "running" and run.status == RunStatus.INTERRUPTED
    assert [r.status for r in store.list_runs() if r.run_id == run_id] == [RunStatus.INTERRUPTED]
    assert "model_sha256" not in run.meta and not run.has_model
    with pytest.raises(RunError):
        store.load_model(run_id)
    assert "test" not in run.meta  # no test accuracy for an unfinished run


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(kill_store, real_dataset, tmp_path):
    from fmnist_core.training import resume

    earlier = complete_runs(kill_store)
    assert earlier, "the store must start with a completed run"
    killed = train_and_kill(kill_store, "mid-epoch", epochs=2, tmp_path=tmp_path)

    assert_earlier_runs_intact(kill_store, earlier)
    assert_interrupted_without_model(kill_store, killed)
    run = kill_store.get(killed)
    assert run.epochs_completed == 1 and all(len(v) == 1 for v in run.history().values())
    assert not (run.path / MODEL_FILE).exists()
    assert sha256_file(run.path / CHECKPOINT_FILE) == run.meta["checkpoint_sha256"]
    assert not [p.name for p in run.path.iterdir() if p.name.startswith(".")]  # killed outside any save
    assert run.resumable

    result = resume(killed, dataset=real_dataset, store=kill_store)
    assert result.status == RunStatus.COMPLETED
    run = kill_store.get(killed)
    assert run.status == RunStatus.COMPLETED and run.epochs_completed == 2 == run.config["epochs"]
    assert all(len(v) == 2 for v in run.history().values())
    assert run.test_accuracy is not None and run.test_accuracy > 0.5
    kill_store.load_model(killed)
    assert_earlier_runs_intact(kill_store, earlier)


@pytest.mark.slow
def test_sigkill_while_saving_the_model_then_resume(kill_store, real_dataset, tmp_path):
    from fmnist_core.training import resume

    earlier = complete_runs(kill_store)
    killed = train_and_kill(kill_store, "mid-save", epochs=1, tmp_path=tmp_path)

    assert_earlier_runs_intact(kill_store, earlier)
    assert_interrupted_without_model(kill_store, killed)
    run = kill_store.get(killed)
    # The complete model sits in a temp file that was never renamed: it must not count as the model.
    temps = [p for p in run.path.iterdir() if p.name.startswith(".") and p.name.endswith(".keras")]
    assert temps and not (run.path / MODEL_FILE).exists()
    assert {r.run_id for r in kill_store.list_runs()} == set(earlier) | {killed}
    # Every epoch finished; only the final save was lost. Resuming finalises from the checkpoint.
    assert run.epochs_completed == 1 == run.config["epochs"]
    assert run.resumable

    result = resume(killed, dataset=real_dataset, store=kill_store)
    assert result.status == RunStatus.COMPLETED
    run = kill_store.get(killed)
    assert run.status == RunStatus.COMPLETED and run.epochs_completed == 1
    assert all(len(v) == 1 for v in run.history().values())  # no extra epoch was trained
    assert run.has_model and run.test_accuracy is not None
    assert not [p for p in run.path.iterdir() if p.name.startswith(".")]  # the dead temp file is gone
    kill_store.load_model(killed)
    assert_earlier_runs_intact(kill_store, earlier)


# ------------------------------------------------------------------ typed metadata and statuses
def test_run_record_reads_the_current_and_older_schemas():
    from fmnist_core.runs import RunRecord, RunStatus

    current = RunRecord.from_dict({
        "status": "completed", "config": {"epochs": 3}, "epochs_completed": 3,
        "test": {"accuracy": 0.91, "loss": 0.3}, "model": {"parameters": 10, "multiply_adds": 20},
        "data_source": {"description": "copy", "official": True, "md5": {"a": "b"}}, "train_seconds": 5.0,
    })
    assert current.status is RunStatus.COMPLETED and current.test.accuracy == 0.91 and current.test.loss == 0.3
    assert (current.model.parameters, current.model.multiply_adds) == (10, 20)
    assert current.data_source.official and current.train_seconds == 5.0 and current.config == {"epochs": 3}
    old = RunRecord.from_dict({"status": "exploded", "parameters": 7, "multiply_adds": 8, "test_accuracy": 0.5})
    assert old.status is RunStatus.FAILED and old.test.accuracy == 0.5
    assert (old.model.parameters, old.model.multiply_adds) == (7, 8)
    empty = RunRecord.from_dict({})
    assert empty.status is RunStatus.FAILED and empty.test.accuracy is None and empty.epochs_completed == 0


def test_default_active_run_policy_lives_in_the_store(tmp_path):
    from fmnist_core.constants import DEFAULT_RUN_ID
    from fmnist_core.runs import MODEL_FILE, RUN_FILE, RunStatus, RunStore, atomic_write_json

    shipped = tmp_path / "shipped"
    store = RunStore(tmp_path / "runs", pretrained_dir=shipped)
    assert store.default_active_run() is None

    def make(root, run_id, status, accuracy=0.9, model=True):
        folder = root / run_id
        folder.mkdir(parents=True)
        if model:
            (folder / MODEL_FILE).write_bytes(b"model")
        atomic_write_json(folder / RUN_FILE, {"status": status, "model_sha256": "x" if model else None,
                                             "test": {"accuracy": accuracy}})

    make(store.root, "20260101-000000-a", "stopped")
    assert store.default_active_run().run_id == "20260101-000000-a"  # only a stopped one: still usable
    make(store.root, "20260102-000000-b", "completed")
    make(store.root, "20260103-000000-c", "completed", model=False)  # no model: never active
    assert store.default_active_run().run_id == "20260102-000000-b"  # newest completed
    make(shipped, DEFAULT_RUN_ID, "completed")
    chosen = store.default_active_run()
    assert chosen.run_id == DEFAULT_RUN_ID and chosen.status is RunStatus.COMPLETED
